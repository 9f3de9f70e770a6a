/**
 * Nix hash strings: `sha256:<nix32>`, `sha256:<hex>`, `sha256:<base64>` and SRI `sha256-<base64>`.
 *
 * As in Nix's Hash::parseAnyPrefixed, the encoding after `algo:` is told apart by its length
 * alone (hex, nix32 and padded base64 lengths never coincide for one algorithm), and SRI
 * is always base64. md5 and sha1 parse because Nix accepts them in fixed-output hashes.
 */
import { createHash } from "node:crypto";
import { decodeNix32, encodeNix32, Nix32DecodeError, nix32Length } from "./nix32.js";

export type HashAlgo = "md5" | "sha1" | "sha256" | "sha512";
export type HashEncoding = "nix32" | "hex" | "sri" | "base64";

export interface NixHash {
  algo: HashAlgo;
  digest: Buffer;
}

const DIGEST_SIZE: Record<HashAlgo, number> = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };

/** Raised for a hash string Nix would not accept (names the string and the reason). */
export class HashParseError extends Error {
  override name = "HashParseError";
}

export function digestSize(algo: HashAlgo): number {
  return DIGEST_SIZE[algo];
}

function isAlgo(s: string): s is HashAlgo {
  return Object.hasOwn(DIGEST_SIZE, s);
}

function base64Length(size: number): number {
  return Math.ceil(size / 3) * 4;
}

const HEX = /^[0-9a-fA-F]*$/;
// Padding optional and unused low bits ignored, as Nix's base64Decode does; Buffer.from
// would also skip stray characters and take URL-safe ones, hence the check first.
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeBase64(s: string, size: number, whole: string): Buffer {
  const digest = BASE64.test(s) ? Buffer.from(s, "base64") : undefined;
  if (digest?.length !== size) throw new HashParseError(`invalid base64 in hash '${whole}'`);
  return digest;
}

function decodeBody(algo: HashAlgo, body: string, whole: string): Buffer {
  const size = DIGEST_SIZE[algo];
  if (body.length === size * 2) {
    if (!HEX.test(body)) throw new HashParseError(`invalid hex in hash '${whole}'`);
    return Buffer.from(body, "hex");
  }
  if (body.length === nix32Length(size)) {
    try {
      return decodeNix32(body);
    } catch (e) {
      if (e instanceof Nix32DecodeError) throw new HashParseError(`invalid nix32 in hash '${whole}'`);
      throw e;
    }
  }
  // Here (unlike SRI) Nix tells base64 by its padded length.
  if (body.length === base64Length(size)) return decodeBase64(body, size, whole);
  throw new HashParseError(`hash '${whole}' has the wrong length for ${algo}`);
}

/**
 * Parses `algo:<hex|nix32|base64>` or `algo-<base64>`. With `expectAlgo`, any other
 * algorithm is an error; callers that only handle sha256 (narinfo, fingerprints) pass it.
 */
export function parseNixHash(s: string, expectAlgo?: HashAlgo): NixHash {
  const m = /^([a-z0-9]+)([:-])(.*)$/s.exec(s);
  if (!m) throw new HashParseError(`hash '${s}' has no 'algo:' or 'algo-' prefix`);
  const [, algo = "", sep, body = ""] = m;
  if (!isAlgo(algo)) throw new HashParseError(`unknown hash algorithm '${algo}' in '${s}'`);
  if (expectAlgo !== undefined && algo !== expectAlgo) {
    throw new HashParseError(`expected a ${expectAlgo} hash, got '${s}'`);
  }
  const digest = sep === "-" ? decodeBase64(body, DIGEST_SIZE[algo], s) : decodeBody(algo, body, s);
  return { algo, digest };
}

/** Formats a digest the way Nix prints it: `sha256:<nix32>`, `sha256:<hex>`, `sha256-<base64>`. */
export function formatNixHash(digest: Uint8Array, encoding: HashEncoding, algo: HashAlgo = "sha256"): string {
  if (digest.length !== DIGEST_SIZE[algo]) {
    throw new HashParseError(`a ${algo} digest has ${DIGEST_SIZE[algo]} bytes, got ${digest.length}`);
  }
  switch (encoding) {
    case "nix32":
      return `${algo}:${encodeNix32(digest)}`;
    case "hex":
      return `${algo}:${Buffer.from(digest).toString("hex")}`;
    case "base64":
      return `${algo}:${Buffer.from(digest).toString("base64")}`;
    case "sri":
      return `${algo}-${Buffer.from(digest).toString("base64")}`;
  }
}

/** sha256 of a string or bytes (UTF-8 for strings), as raw digest bytes. */
export function sha256(data: string | Uint8Array): Buffer {
  return createHash("sha256").update(data).digest();
}
