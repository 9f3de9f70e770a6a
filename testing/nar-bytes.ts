// Tests only: a token-level NAR builder, so malformed archives can be written by hand, and
// helpers to feed bytes in odd chunkings and to ask real Nix for a path's NAR.
import { execFileSync } from "node:child_process";
import { Readable } from "node:stream";

export function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** NAR strings: each part as length + bytes + zero padding to 8. */
export function narStrings(...parts: (string | Buffer)[]): Buffer {
  return Buffer.concat(
    parts.map((p) => {
      const b = typeof p === "string" ? Buffer.from(p) : p;
      return Buffer.concat([u64(b.length), b, Buffer.alloc((8 - (b.length % 8)) % 8)]);
    }),
  );
}

export const narFile = (data: string | Buffer, exec = false) =>
  narStrings("(", "type", "regular", ...(exec ? ["executable", ""] : []), "contents", data, ")");

export const narLink = (target: string | Buffer) => narStrings("(", "type", "symlink", "target", target, ")");

export const narDir = (...entries: [string | Buffer, Buffer][]) =>
  Buffer.concat([
    narStrings("(", "type", "directory"),
    ...entries.map(([n, node]) =>
      Buffer.concat([narStrings("entry", "(", "name", n, "node"), node, narStrings(")")]),
    ),
    narStrings(")"),
  ]);

export const narArchive = (root: Buffer) => Buffer.concat([narStrings("nix-archive-1"), root]);

/** `buf` as a stream of pieces of `size` bytes (or of sizes drawn from a function). */
export function chunked(buf: Buffer, size: number | (() => number)): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; ) {
    const n = Math.max(1, typeof size === "number" ? size : size());
    parts.push(buf.subarray(i, i + n));
    i += n;
  }
  return Readable.from(parts);
}

/** What real Nix serialises `path` to. */
export function nixDump(path: string): Buffer {
  return execFileSync("nix-store", ["--dump", path], { maxBuffer: 1 << 30 });
}
