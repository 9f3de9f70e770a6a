// The narinfo `Compression:` values flox can decode (and so verify): what the Storehouse accepts and the agent
// fetches. xz and bzip2 are left out: Node has no decoder for them, and an unverifiable NAR is never served.
import type { Transform } from "node:stream";
import { createBrotliDecompress, createGunzip } from "node:zlib";

export const DECODABLE_COMPRESSIONS: ReadonlySet<string> = new Set(["none", "br", "gzip"]);

/** A stream that decodes `compression` (zlib's, so the work runs on libuv's thread pool); undefined for none. */
export function narDecompressor(compression: string): Transform | undefined {
  if (compression === "br") return createBrotliDecompress();
  if (compression === "gzip") return createGunzip();
  return undefined;
}
