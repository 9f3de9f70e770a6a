import { type NarDigest, type NarReaderOptions, type NarSource, readNar } from "./nar-reader.js";

/** One node of a `.ls` listing, with fields in the order Nix writes them. */
export type NarListingNode =
  | {
      type: "regular";
      size: number;
      executable?: true;
      /** Where the file's bytes start in the uncompressed NAR: serve it with a Range request. */
      narOffset: number;
    }
  | { type: "symlink"; target: string }
  | { type: "directory"; entries: Record<string, NarListingNode> };

/** The `<hash>.ls` document that `nix copy --to ...?write-nar-listing=1` uploads. */
export interface NarListing {
  version: 1;
  root: NarListingNode;
}

type DirectoryNode = Extract<NarListingNode, { type: "directory" }>;

/**
 * Build the listing of a NAR while validating it (and hashing it: one pass gives what an upload
 * check needs). Names and symlink targets are decoded as UTF-8; bytes that are not valid UTF-8
 * become U+FFFD, as they must in a JSON document. `entries` objects have no prototype, so an
 * entry named `__proto__` is an ordinary key.
 */
export async function buildNarListing(
  source: NarSource,
  options: NarReaderOptions = {},
): Promise<{ listing: NarListing } & NarDigest> {
  let root: NarListingNode | undefined;
  const dirs: DirectoryNode[] = [];
  const attach = (path: readonly Buffer[], node: NarListingNode) => {
    const name = path[path.length - 1];
    if (name === undefined) root = node;
    else (dirs[path.length - 1] as DirectoryNode).entries[name.toString("utf8")] = node;
  };
  for await (const ev of readNar(source, options)) {
    switch (ev.type) {
      case "directory": {
        const node: DirectoryNode = { type: "directory", entries: Object.create(null) };
        attach(ev.path, node);
        dirs.push(node);
        break;
      }
      case "directory-end":
        dirs.pop();
        break;
      case "regular":
        attach(
          ev.path,
          ev.executable
            ? { type: "regular", size: ev.size, executable: true, narOffset: ev.narOffset }
            : { type: "regular", size: ev.size, narOffset: ev.narOffset },
        );
        break;
      case "symlink":
        attach(ev.path, { type: "symlink", target: ev.target.toString("utf8") });
        break;
      case "end":
        if (!root) throw new Error("unreachable: a validated NAR has a root node");
        return { listing: { version: 1, root }, narHash: ev.narHash, narSize: ev.narSize };
    }
  }
  throw new Error("unreachable: readNar ended without an end event");
}

// Nix's JSON writer (libutil/json.cc in 2.8) escapes only these; everything else passes through.
function jsonString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (c < 0x20) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

function nodeJson(node: NarListingNode): string {
  switch (node.type) {
    case "regular":
      return `{"type":"regular","size":${node.size}${node.executable ? ',"executable":true' : ""},"narOffset":${node.narOffset}}`;
    case "symlink":
      return `{"type":"symlink","target":${jsonString(node.target)}}`;
    case "directory": {
      // JS objects put integer-like keys first; Nix lists entries in raw byte order.
      const names = Object.keys(node.entries).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      const parts = names.map((n) => `${jsonString(n)}:${nodeJson(node.entries[n] as NarListingNode)}`);
      return `{"type":"directory","entries":{${parts.join(",")}}}`;
    }
  }
}

/** The listing serialised byte-for-byte as Nix 2.8 writes `.ls` files (no trailing newline). */
export function narListingJson(listing: NarListing): string {
  return `{"version":1,"root":${nodeJson(listing.root)}}`;
}
