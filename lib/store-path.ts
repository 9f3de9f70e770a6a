/**
 * Store paths: `<storeDir>/<32 nix32 chars>-<name>`, their validation, and how Nix computes
 * them (Store::makeStorePath and friends in Nix 2.8's store-api.cc).
 */
import { formatNixHash, type HashAlgo, sha256 } from "./hash.js";
import { encodeNix32, isNix32 } from "./nix32.js";

export const DEFAULT_STORE_DIR = "/nix/store";
/** nix32 length of the 20-byte (160-bit) store-path hash. */
export const STORE_PATH_HASH_LENGTH = 32;
export const MAX_STORE_PATH_NAME_LENGTH = 211;

export interface StorePath {
  storeDir: string;
  /** The 32-character nix32 hash part. */
  hash: string;
  name: string;
  /** `<hash>-<name>`, as narinfo References and Deriver carry it. */
  basename: string;
}

/** Raised for a store path or name Nix would refuse; the message says which rule broke. */
export class BadStorePathError extends Error {
  override name = "BadStorePathError";
}

const NAME_CHARS = /^[A-Za-z0-9+\-._?=]+$/;

function nameProblem(name: string): string | undefined {
  if (name.length === 0) return "has an empty name";
  if (name.length > MAX_STORE_PATH_NAME_LENGTH) {
    return `has a name longer than ${MAX_STORE_PATH_NAME_LENGTH} characters`;
  }
  // A leading '.' is deliberately allowed: Nix 2.8 accepts it (`nix-store --add .envrc`
  // gives `<hash>-.envrc`), and a server refusing such uploads would break real closures.
  if (!NAME_CHARS.test(name)) return "has a name with characters outside [A-Za-z0-9+-._?=]";
  return undefined;
}

/** Whether `name` may follow `<hash>-` in a store path (Nix 2.8's checkName). */
export function isValidStorePathName(name: string): boolean {
  return nameProblem(name) === undefined;
}

/** Parses `<hash>-<name>` (no directory), as found in narinfo References and Deriver. */
export function parseStorePathBasename(basename: string, storeDir = DEFAULT_STORE_DIR): StorePath {
  const hash = basename.slice(0, STORE_PATH_HASH_LENGTH);
  if (basename.length < STORE_PATH_HASH_LENGTH + 2 || basename[STORE_PATH_HASH_LENGTH] !== "-") {
    throw new BadStorePathError(`'${basename}' is not of the form <32-char hash>-<name>`);
  }
  if (!isNix32(hash, 20)) throw new BadStorePathError(`'${basename}' has an invalid nix32 hash part`);
  const name = basename.slice(STORE_PATH_HASH_LENGTH + 1);
  const problem = nameProblem(name);
  if (problem) throw new BadStorePathError(`store path '${basename}' ${problem}`);
  return { storeDir, hash, name, basename };
}

/**
 * Parses a full store path. Only the top-level path is accepted (no `/sub/dir` after the
 * basename); the store directory is whatever precedes the last `/` and must be absolute.
 */
export function parseStorePath(path: string, expectedStoreDir?: string): StorePath {
  const slash = path.lastIndexOf("/");
  const storeDir = path.slice(0, slash);
  if (slash <= 0 || !storeDir.startsWith("/") || storeDir.endsWith("/")) {
    throw new BadStorePathError(`'${path}' is not an absolute store path`);
  }
  if (expectedStoreDir !== undefined && storeDir !== expectedStoreDir) {
    throw new BadStorePathError(`'${path}' is not in the Nix store '${expectedStoreDir}'`);
  }
  return parseStorePathBasename(path.slice(slash + 1), storeDir);
}

export function isStorePath(path: string, expectedStoreDir?: string): boolean {
  try {
    parseStorePath(path, expectedStoreDir);
    return true;
  } catch {
    return false;
  }
}

/** Folds `digest` to `size` bytes by XOR, byte i landing on i mod size (Nix's compressHash). */
export function compressHash(digest: Uint8Array, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < digest.length; i++) out[i % size] = (out[i % size] as number) ^ (digest[i] as number);
  return out;
}

function checkedName(name: string): string {
  const problem = nameProblem(name);
  if (problem) throw new BadStorePathError(`store path name '${name}' ${problem}`);
  return name;
}

/**
 * Nix's Store::makeStorePath: the hash part is sha256 of
 * `<type>:sha256:<innerHashHex>:<storeDir>:<name>`, folded to 20 bytes, in nix32.
 */
export function makeStorePath(
  type: string,
  innerHashHex: string,
  name: string,
  storeDir = DEFAULT_STORE_DIR,
): string {
  checkedName(name);
  const fingerprint = `${type}:sha256:${innerHashHex}:${storeDir}:${name}`;
  return `${storeDir}/${encodeNix32(compressHash(sha256(fingerprint), 20))}-${name}`;
}

/** Nix's makeType: references (full paths, sorted as Nix's set is) and `self` join the type. */
function typeWithReferences(type: string, references: readonly string[], selfReference: boolean): string {
  const refs = [...new Set(references)].sort();
  for (const r of refs) parseStorePath(r);
  return [type, ...refs, ...(selfReference ? ["self"] : [])].join(":");
}

export interface FixedOutputPathInput {
  /** `flat`: hash of the file's bytes; `recursive`: hash of its NAR. */
  method: "flat" | "recursive";
  hash: Uint8Array;
  /** Defaults to sha256; others only matter to fixed-output derivations. */
  algo?: HashAlgo;
  name: string;
  /** Full store paths; only allowed for recursive sha256 (the `source` type). */
  references?: readonly string[];
  selfReference?: boolean;
  storeDir?: string;
}

/**
 * Nix's makeFixedOutputPath: recursive sha256 is a `source` path (what `nix-store --add`
 * and builtins.path make); everything else hashes `fixed:out:[r:]<algo>:<hex>:` first.
 */
export function makeFixedOutputPath(input: FixedOutputPathInput): string {
  const { method, hash, name, references = [], selfReference = false, storeDir = DEFAULT_STORE_DIR } = input;
  const algo = input.algo ?? "sha256";
  if (algo === "sha256" && method === "recursive") {
    const type = typeWithReferences("source", references, selfReference);
    return makeStorePath(type, Buffer.from(hash).toString("hex"), name, storeDir);
  }
  if (references.length > 0 || selfReference) {
    throw new BadStorePathError("only recursive sha256 fixed-output paths may have references");
  }
  const prefix = method === "recursive" ? "r:" : "";
  const inner = sha256(`fixed:out:${prefix}${formatNixHash(hash, "hex", algo)}:`);
  return makeStorePath("output:out", inner.toString("hex"), name, storeDir);
}

/** The path `nix-store --add` / builtins.path give a tree whose NAR has sha256 `narHash`. */
export function makeSourcePath(
  narHash: Uint8Array,
  name: string,
  references: readonly string[] = [],
  storeDir = DEFAULT_STORE_DIR,
): string {
  return makeFixedOutputPath({ method: "recursive", hash: narHash, name, references, storeDir });
}

/** Nix's makeTextPath: builtins.toFile and .drv files (`text` type, sha256 of the contents). */
export function makeTextPath(
  name: string,
  contents: string | Uint8Array,
  references: readonly string[] = [],
  storeDir = DEFAULT_STORE_DIR,
): string {
  const type = typeWithReferences("text", references, false);
  return makeStorePath(type, sha256(contents).toString("hex"), name, storeDir);
}
