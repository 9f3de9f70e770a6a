/**
 * Nix's binary-cache signatures: ed25519 keys in `name:base64` form (as
 * `nix-store --generate-binary-cache-key` writes them) and `Sig:` lines over a path's
 * fingerprint. Uses Node's built-in ed25519; libsodium's 64-byte secret key is seed + public.
 */
import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from "node:crypto";
import { formatNixHash, HashParseError, parseNixHash, sha256 } from "./hash.js";
import type { NarInfo } from "./narinfo.js";
import { parseStorePath } from "./store-path.js";

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const SEED_BYTES = 32;
const PUBLIC_BYTES = 32;
const SIGNATURE_BYTES = 64;

export interface SecretKey {
  name: string;
  seed: Buffer;
  publicKey: Buffer;
}

export interface PublicKey {
  name: string;
  key: Buffer;
}

/** A key or signature string that is not `name:base64` of the right length. */
export class KeyFormatError extends Error {
  override name = "KeyFormatError";
}

/** Inputs a fingerprint cannot be made from (Nix refuses the same). */
export class FingerprintError extends Error {
  override name = "FingerprintError";
}

/** Splits at the first ':' as Nix does; a name can therefore never contain one. */
function splitNamed(s: string, what: string): { name: string; bytes: Buffer } {
  const colon = s.indexOf(":");
  const name = colon < 0 ? "" : s.slice(0, colon);
  const b64 = colon < 0 ? "" : s.slice(colon + 1);
  if (name === "" || b64 === "") throw new KeyFormatError(`${what} is not 'name:base64'`);
  const bytes = Buffer.from(b64, "base64");
  if (bytes.toString("base64") !== b64) throw new KeyFormatError(`${what} '${name}' has invalid base64`);
  return { name, bytes };
}

/** By seed: a server signs every narinfo with the same parsed key, and parsing it cost more than the signing. */
const privateKeys = new WeakMap<Buffer, KeyObject>();

function privateKeyObject(seed: Buffer): KeyObject {
  let key = privateKeys.get(seed);
  if (!key) {
    key = createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
      format: "der",
      type: "pkcs8",
    });
    privateKeys.set(seed, key);
  }
  return key;
}

function publicKeyObject(key: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, key]), format: "der", type: "spki" });
}

function publicFromSeed(seed: Buffer): Buffer {
  const der = createPublicKey(privateKeyObject(seed)).export({ format: "der", type: "spki" });
  return der.subarray(SPKI_ED25519_PREFIX.length);
}

function checkKeyName(name: string): void {
  if (name === "" || name.includes(":"))
    throw new KeyFormatError(`key name '${name}' must be non-empty, without ':'`);
}

/** A fresh key pair in Nix's text format (`secretKey` = name:base64(seed ‖ public)). */
export function generateKeyPair(name: string): { secretKey: string; publicKey: string } {
  checkKeyName(name);
  const seed = randomBytes(SEED_BYTES);
  const pub = publicFromSeed(seed);
  return {
    secretKey: `${name}:${Buffer.concat([seed, pub]).toString("base64")}`,
    publicKey: `${name}:${pub.toString("base64")}`,
  };
}

/** Parses `name:base64(64 bytes)`; also checks the public half belongs to the seed. */
export function parseSecretKey(s: string): SecretKey {
  const { name, bytes } = splitNamed(s.trim(), "secret key");
  if (bytes.length !== SEED_BYTES + PUBLIC_BYTES) {
    throw new KeyFormatError(`secret key '${name}' has ${bytes.length} bytes, expected 64`);
  }
  const seed = bytes.subarray(0, SEED_BYTES);
  const publicKey = bytes.subarray(SEED_BYTES);
  // libsodium signs with the embedded public half: a mismatch would yield signatures that never verify.
  if (!publicFromSeed(seed).equals(publicKey)) {
    throw new KeyFormatError(`secret key '${name}' is corrupt: its public half does not match its seed`);
  }
  return { name, seed, publicKey };
}

/** Parses `name:base64(32 bytes)`. */
export function parsePublicKey(s: string): PublicKey {
  const { name, bytes } = splitNamed(s.trim(), "public key");
  if (bytes.length !== PUBLIC_BYTES) {
    throw new KeyFormatError(`public key '${name}' has ${bytes.length} bytes, expected 32`);
  }
  return { name, key: bytes };
}

/** The `name:base64` public key belonging to a secret key. */
export function publicKeyOf(secretKey: string | SecretKey): string {
  const sk = typeof secretKey === "string" ? parseSecretKey(secretKey) : secretKey;
  return `${sk.name}:${sk.publicKey.toString("base64")}`;
}

/**
 * What Nix signs for a store path (ValidPathInfo::fingerprint):
 * `1;<path>;sha256:<nix32 narHash>;<narSize>;<reference paths, sorted, joined by ",">`.
 * `narHash` may be in any encoding Nix accepts; it is written in nix32.
 */
export function fingerprint(
  storePath: string,
  narHash: string,
  narSize: number,
  references: readonly string[],
): string {
  parseStorePath(storePath);
  if (!Number.isSafeInteger(narSize) || narSize <= 0) {
    throw new FingerprintError(`cannot fingerprint '${storePath}': its NAR size is not known`);
  }
  let hash: string;
  try {
    hash = formatNixHash(parseNixHash(narHash, "sha256").digest, "nix32");
  } catch (e) {
    if (e instanceof HashParseError) throw new FingerprintError(e.message);
    throw e;
  }
  for (const r of references) parseStorePath(r);
  // Nix keeps references in a sorted set.
  const refs = [...new Set(references)].sort().join(",");
  return `1;${storePath};${hash};${narSize};${refs}`;
}

/** Signs `fp`, giving `keyname:base64(signature)` for a `Sig:` line. */
export function signFingerprint(secretKey: string | SecretKey, fp: string): string {
  const sk = typeof secretKey === "string" ? parseSecretKey(secretKey) : secretKey;
  const sig = sign(null, Buffer.from(fp, "utf8"), privateKeyObject(sk.seed));
  return `${sk.name}:${sig.toString("base64")}`;
}

/**
 * True when `sig` is a valid signature of `fp` by one of `publicKeys` with its name.
 * A malformed signature is simply not valid (Nix throws; one bad Sig line should not
 * hide a good one).
 */
export function verifySignature(
  publicKeys: readonly (string | PublicKey)[],
  fp: string,
  sig: string,
): boolean {
  let parsed: { name: string; bytes: Buffer };
  try {
    parsed = splitNamed(sig, "signature");
  } catch (e) {
    if (e instanceof KeyFormatError) return false;
    throw e;
  }
  if (parsed.bytes.length !== SIGNATURE_BYTES) return false;
  const data = Buffer.from(fp, "utf8");
  return publicKeys.some((k) => {
    const pk = typeof k === "string" ? parsePublicKey(k) : k;
    return pk.name === parsed.name && verify(null, data, publicKeyObject(pk.key), parsed.bytes);
  });
}

function storeDirOf(storePath: string): string {
  return parseStorePath(storePath).storeDir;
}

/** The fingerprint of a narinfo (its References are basenames, so they get the store dir). */
export function narInfoFingerprint(info: NarInfo): string {
  const dir = storeDirOf(info.storePath);
  return fingerprint(
    info.storePath,
    info.narHash,
    info.narSize,
    info.references.map((r) => `${dir}/${r}`),
  );
}

/** A copy of `info` with this key's signature added (replacing an older one by the same key name). */
export function signNarInfo(info: NarInfo, secretKey: string | SecretKey): NarInfo {
  const sk = typeof secretKey === "string" ? parseSecretKey(secretKey) : secretKey;
  const sig = signFingerprint(sk, narInfoFingerprint(info));
  const others = info.sigs.filter((s) => !s.startsWith(`${sk.name}:`));
  return { ...info, sigs: [...others, sig] };
}

/** True when at least one of the narinfo's signatures is valid by one of `publicKeys`. */
export function verifyNarInfo(info: NarInfo, publicKeys: readonly (string | PublicKey)[]): boolean {
  const fp = narInfoFingerprint(info);
  const keys = publicKeys.map((k) => (typeof k === "string" ? parsePublicKey(k) : k));
  return info.sigs.some((sig) => verifySignature(keys, fp, sig));
}

/** The Storehouse sends a listing's signature (by its narinfo key) in this header of the `.ls` answer. */
export const LISTING_SIGNATURE_HEADER = "x-flox-listing-signature";

/**
 * What flox signs for a `.ls` listing: the path, its NAR hash and the listing's own sha256. Nix has no
 * signature for listings; this one lets a client trust metadata (and per-file hashes) before the NAR.
 */
export function listingFingerprint(storePath: string, narHash: string, listing: string | Uint8Array): string {
  parseStorePath(storePath);
  let hash: string;
  try {
    hash = formatNixHash(parseNixHash(narHash, "sha256").digest, "nix32");
  } catch (e) {
    if (e instanceof HashParseError) throw new FingerprintError(e.message);
    throw e;
  }
  return `1;flox-listing;${storePath};${hash};${formatNixHash(sha256(listing), "nix32")}`;
}
