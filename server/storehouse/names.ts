// The only file names the Storehouse knows. Every URL segment passes one of these before it touches disk, so
// `..`, slashes (however encoded) and over-long names never reach a path join.
import { z } from "zod";

/** A store path's hash part: 32 nix32 characters. */
export const StoreHash = z.string().regex(/^[0-9a-df-np-sv-z]{32}$/, "not 32 nix32 characters");

/** `<nix32 sha256 of the file>.nar` plus the compressor's extension, as `nix copy --to` names NARs. */
export const NarFileName = z
  .string()
  .regex(/^[0-9a-df-np-sv-z]{52}\.nar(\.(br|gz|bz2|xz|zst))?$/, "not <52 nix32 characters>.nar[.ext]");

export type CacheFileKind = "narinfo" | "ls";

/** `<hash>.narinfo` or `<hash>.ls` → its kind and hash; undefined for anything else. */
export function parseCacheFileName(name: string): { kind: CacheFileKind; hash: string } | undefined {
  const m = /^([^.]*)\.(narinfo|ls)$/.exec(name);
  if (!m || !StoreHash.safeParse(m[1]).success) return undefined;
  return { kind: m[2] as CacheFileKind, hash: m[1] as string };
}

/** The nix32 file hash a NAR's name carries (the NAR file is content-addressed by it). */
export function narFileHash(name: string): string {
  return name.slice(0, 52);
}

/** Extensions Node can decompress; the others are refused at upload, since they could never be verified. */
export const DECODABLE_EXTENSIONS = new Set(["", ".br", ".gz"]);

export function narFileExtension(name: string): string {
  return name.slice(52 + ".nar".length);
}
