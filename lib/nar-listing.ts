import { createHash, type Hash } from "node:crypto";
import { NAR_LIMITS, type NarDigest, type NarReaderOptions, type NarSource, readNar } from "./nar-reader.js";
import { encodeNix32 } from "./nix32.js";

/** One node of a `.ls` listing, with fields in the order Nix writes them. */
export type NarListingNode =
  | {
      type: "regular";
      size: number;
      executable?: true;
      /** Where the file's bytes start in the uncompressed NAR: serve it with a Range request. */
      narOffset: number;
      /** nix32 sha256 of the file's contents (flox's addition; Nix ignores it): a Range-fetched file is
       *  checked against it, so one file of a big path can be trusted without the whole NAR. */
      sha256?: string;
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
  options: NarReaderOptions & { fileHashes?: boolean } = {},
): Promise<{ listing: NarListing } & NarDigest> {
  let root: NarListingNode | undefined;
  const dirs: DirectoryNode[] = [];
  let file: { node: Extract<NarListingNode, { type: "regular" }>; hash: Hash } | undefined;
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
      case "regular": {
        const node: Extract<NarListingNode, { type: "regular" }> = ev.executable
          ? { type: "regular", size: ev.size, executable: true, narOffset: ev.narOffset }
          : { type: "regular", size: ev.size, narOffset: ev.narOffset };
        attach(ev.path, node);
        if (options.fileHashes) file = { node, hash: createHash("sha256") };
        break;
      }
      case "contents":
        file?.hash.update(ev.chunk);
        break;
      case "regular-end":
        if (file) file.node.sha256 = encodeNix32(file.hash.digest());
        file = undefined;
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
      return `{"type":"regular","size":${node.size}${node.executable ? ',"executable":true' : ""},"narOffset":${node.narOffset}${node.sha256 ? `,"sha256":"${node.sha256}"` : ""}}`;
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

/** A listing from the network is not what it should be. */
export class NarListingParseError extends Error {
  override name = "NarListingParseError";
}

const NIX32_SHA256 = /^[0123456789abcdfghijklmnpqrsvwxyz]{52}$/;

/**
 * Parses a `.ls` document from an untrusted source, refusing anything a NAR could not contain: names
 * with `/` or NUL, `.`/`..`, over-long names or targets, deeper than NAR_LIMITS.depth, sizes and offsets
 * that are not safe integers within `narSize` (when given). Entries come back in prototype-less objects.
 */
export function parseNarListing(text: string, narSize?: number): NarListing {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new NarListingParseError(`not JSON: ${(err as Error).message}`);
  }
  const bad = (where: string, what: string): never => {
    throw new NarListingParseError(`${where || "/"}: ${what}`);
  };
  const isObj = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  const count = (v: unknown, where: string, field: string): number => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) bad(where, `${field} is not a size`);
    if (narSize !== undefined && (v as number) > narSize) bad(where, `${field} is beyond the NAR's size`);
    return v as number;
  };
  const node = (v: unknown, where: string, depth: number): NarListingNode => {
    if (depth > NAR_LIMITS.depth) bad(where, "nested too deep");
    if (!isObj(v)) return bad(where, "not an object");
    switch (v.type) {
      case "regular": {
        const size = count(v.size, where, "size");
        const narOffset = count(v.narOffset, where, "narOffset");
        if (narSize !== undefined && narOffset + size > narSize) bad(where, "its bytes end beyond the NAR");
        const out: NarListingNode = { type: "regular", size, narOffset };
        if (v.executable === true) out.executable = true;
        else if (v.executable !== undefined && v.executable !== false)
          bad(where, "executable is not a boolean");
        if (v.sha256 !== undefined) {
          if (typeof v.sha256 !== "string" || !NIX32_SHA256.test(v.sha256)) bad(where, "sha256 is not nix32");
          out.sha256 = v.sha256 as string;
        }
        return out;
      }
      case "symlink":
        if (typeof v.target !== "string" || v.target === "" || v.target.includes("\0"))
          return bad(where, "target is not a symlink target");
        if (Buffer.byteLength(v.target) > NAR_LIMITS.target) bad(where, "target is too long");
        return { type: "symlink", target: v.target };
      case "directory": {
        if (!isObj(v.entries)) return bad(where, "entries is not an object");
        const entries: Record<string, NarListingNode> = Object.create(null);
        for (const [name, child] of Object.entries(v.entries)) {
          if (name === "" || name === "." || name === ".." || /[/\0]/.test(name))
            bad(where, `${JSON.stringify(name)} is not a file name`);
          if (Buffer.byteLength(name) > NAR_LIMITS.name) bad(where, "a name is too long");
          entries[name] = node(child, `${where}/${name}`, depth + 1);
        }
        return { type: "directory", entries };
      }
      default:
        return bad(where, "type is not regular, symlink or directory");
    }
  };
  if (!isObj(doc) || doc.version !== 1) throw new NarListingParseError('not {"version":1,"root":{...}}');
  return { version: 1, root: node(doc.root, "", 0) };
}

/** The node at `rest` ("a/b", "" for the root), following no symlinks; undefined when missing. */
export function listingNodeAt(listing: NarListing, rest: string): NarListingNode | undefined {
  let node: NarListingNode | undefined = listing.root;
  if (rest === "") return node;
  for (const name of rest.split("/")) {
    if (node?.type !== "directory") return undefined;
    node = Object.hasOwn(node.entries, name) ? node.entries[name] : undefined;
  }
  return node;
}
