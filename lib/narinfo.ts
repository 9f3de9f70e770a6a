/**
 * `<hash>.narinfo` files of a binary cache, parsed and written as Nix 2.8 does
 * (src/libstore/nar-info.cc), but stricter on input: every problem names its line and field.
 */
import { formatNixHash, HashParseError, parseNixHash } from "./hash.js";
import {
  BadStorePathError,
  DEFAULT_STORE_DIR,
  parseStorePath,
  parseStorePathBasename,
} from "./store-path.js";

/** What a narinfo without a Compression line means: Nix defaults to bzip2, not none. */
export const DEFAULT_NARINFO_COMPRESSION = "bzip2";

export interface NarInfo {
  /** Full store path. */
  storePath: string;
  /** Where the (compressed) NAR is, relative to the cache root or absolute. */
  url: string;
  /** `none`, `xz`, `bzip2`, `br`, `zstd`, `gzip`, … (not checked: Nix passes it on as is). */
  compression: string;
  /** sha256 of the file at `url`, `sha256:<nix32>`. */
  fileHash?: string;
  fileSize?: number;
  /** sha256 of the uncompressed NAR, `sha256:<nix32>`. */
  narHash: string;
  narSize: number;
  /** Basenames (`<hash>-<name>`), sorted. */
  references: string[];
  /** Basename of the .drv. */
  deriver?: string;
  /** `keyname:base64`, in the order read. */
  sigs: string[];
  /** Content address, e.g. `fixed:r:sha256:<nix32>`; paths with one need no signature. */
  ca?: string;
  /** Read for completeness; Nix 2.8 never writes it, and neither does serializeNarInfo. */
  system?: string;
}

/** A narinfo Nix would reject or misread; `line` is 1-based, `field` the key at fault. */
export class NarInfoParseError extends Error {
  override name = "NarInfoParseError";
  constructor(
    message: string,
    readonly line?: number,
    readonly field?: string,
  ) {
    super(`narinfo${line === undefined ? "" : ` line ${line}`}${field ? ` (${field})` : ""}: ${message}`);
  }
}

export interface ParseNarInfoOptions {
  /** The store directory StorePath must be in (as Nix's parseStorePath checks). */
  storeDir?: string;
}

const SINGLE_VALUED = new Set([
  "StorePath",
  "URL",
  "Compression",
  "FileHash",
  "FileSize",
  "NarHash",
  "NarSize",
  "References",
  "Deriver",
  "CA",
  "System",
]);

function parseSize(value: string, line: number, field: string): number {
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n)) {
    throw new NarInfoParseError(`'${value}' is not a non-negative integer`, line, field);
  }
  return n;
}

function parseSha256(value: string, line: number, field: string): string {
  try {
    return formatNixHash(parseNixHash(value, "sha256").digest, "nix32");
  } catch (e) {
    if (e instanceof HashParseError) throw new NarInfoParseError(e.message, line, field);
    throw e;
  }
}

function checkBasename(value: string, line: number, field: string): string {
  try {
    return parseStorePathBasename(value).basename;
  } catch (e) {
    if (e instanceof BadStorePathError) throw new NarInfoParseError(e.message, line, field);
    throw e;
  }
}

// Nix's parseContentAddress: an `algo:` hash after the method, never SRI.
const CA_PREFIX = /^(text:|fixed:(?:r:)?)([a-z0-9]+:.*)$/s;

function parseCa(value: string, line: number): string {
  const m = CA_PREFIX.exec(value);
  try {
    if (!m) throw new HashParseError(`'${value}' is not text:<hash> or fixed:[r:]<hash>`);
    const hash = parseNixHash(m[2] ?? "", m[1] === "text:" ? "sha256" : undefined);
    // Nix renders CA hashes in nix32 whatever encoding it was given.
    return `${m[1]}${formatNixHash(hash.digest, "nix32", hash.algo)}`;
  } catch (e) {
    if (e instanceof HashParseError) throw new NarInfoParseError(e.message, line, "CA");
    throw e;
  }
}

/**
 * Parses narinfo text. Hashes are normalised to `sha256:<nix32>` (Nix accepts hex, nix32,
 * base64 and SRI here). Unknown fields are skipped, as Nix skips them; repeated
 * single-valued fields, blank lines and a last line without `\n` are errors.
 */
export function parseNarInfo(text: string, options: ParseNarInfoOptions = {}): NarInfo {
  const storeDir = options.storeDir ?? DEFAULT_STORE_DIR;
  if (text.length > 0 && !text.endsWith("\n")) {
    throw new NarInfoParseError("the last line does not end in a newline", text.split("\n").length);
  }
  const lines = text.split("\n").slice(0, -1);
  const seen = new Set<string>();
  const fields: Partial<NarInfo> & { sigs: string[]; references: string[] } = { sigs: [], references: [] };

  lines.forEach((raw, index) => {
    const line = index + 1;
    const colon = raw.indexOf(": ");
    if (colon <= 0) throw new NarInfoParseError(`'${raw}' is not 'Key: value'`, line);
    const key = raw.slice(0, colon);
    const value = raw.slice(colon + 2);
    if (SINGLE_VALUED.has(key)) {
      if (seen.has(key)) throw new NarInfoParseError("field appears twice", line, key);
      seen.add(key);
    }
    switch (key) {
      case "StorePath":
        try {
          parseStorePath(value, storeDir);
          fields.storePath = value;
        } catch (e) {
          if (e instanceof BadStorePathError) throw new NarInfoParseError(e.message, line, key);
          throw e;
        }
        break;
      case "URL":
        if (value.length === 0) throw new NarInfoParseError("empty URL", line, key);
        fields.url = value;
        break;
      case "Compression":
        fields.compression = value;
        break;
      case "FileHash":
        fields.fileHash = parseSha256(value, line, key);
        break;
      case "FileSize":
        fields.fileSize = parseSize(value, line, key);
        break;
      case "NarHash":
        fields.narHash = parseSha256(value, line, key);
        break;
      case "NarSize":
        fields.narSize = parseSize(value, line, key);
        if (fields.narSize === 0) throw new NarInfoParseError("NarSize must not be 0", line, key);
        break;
      case "References":
        fields.references = value
          .split(" ")
          .filter((r) => r.length > 0)
          .map((r) => checkBasename(r, line, key));
        break;
      case "Deriver":
        // Old Hydra caches write this placeholder; Nix reads it as "no deriver".
        if (value !== "unknown-deriver") fields.deriver = checkBasename(value, line, key);
        break;
      case "Sig":
        if (!/^[^:]+:.+$/.test(value))
          throw new NarInfoParseError(`'${value}' is not keyname:base64`, line, key);
        if (!fields.sigs.includes(value)) fields.sigs.push(value);
        break;
      case "CA":
        // Nix reads a blank CA as none.
        if (value.length > 0) fields.ca = parseCa(value, line);
        break;
      case "System":
        fields.system = value;
        break;
    }
  });

  for (const required of ["StorePath", "URL", "NarHash", "NarSize"] as const) {
    if (!seen.has(required)) throw new NarInfoParseError(`missing ${required}`, undefined, required);
  }
  const { storePath, url, narHash, narSize } = fields;
  if (storePath === undefined || url === undefined || narHash === undefined || narSize === undefined) {
    throw new NarInfoParseError("incomplete narinfo");
  }
  const info: NarInfo = {
    storePath,
    url,
    compression: fields.compression || DEFAULT_NARINFO_COMPRESSION,
    narHash,
    narSize,
    references: [...new Set(fields.references)].sort(),
    sigs: fields.sigs,
  };
  if (fields.fileHash !== undefined) info.fileHash = fields.fileHash;
  if (fields.fileSize !== undefined) info.fileSize = fields.fileSize;
  if (fields.deriver !== undefined) info.deriver = fields.deriver;
  if (fields.ca !== undefined) info.ca = fields.ca;
  if (fields.system !== undefined) info.system = fields.system;
  return info;
}

/**
 * Writes narinfo text byte-for-byte as Nix 2.8's NarInfo::to_string: fixed field order,
 * References always present (possibly empty), references and signatures sorted (Nix
 * keeps both in sets), every line ending in `\n`, no System line.
 */
export function serializeNarInfo(info: NarInfo): string {
  if (info.url.length === 0)
    throw new NarInfoParseError("cannot write a narinfo without URL", undefined, "URL");
  if (!(info.narSize > 0))
    throw new NarInfoParseError("cannot write a narinfo with NarSize 0", undefined, "NarSize");
  const lines = [
    `StorePath: ${info.storePath}`,
    `URL: ${info.url}`,
    `Compression: ${info.compression || DEFAULT_NARINFO_COMPRESSION}`,
  ];
  if (info.fileHash !== undefined) lines.push(`FileHash: ${info.fileHash}`);
  if (info.fileSize !== undefined) lines.push(`FileSize: ${info.fileSize}`);
  lines.push(`NarHash: ${info.narHash}`, `NarSize: ${info.narSize}`);
  lines.push(`References: ${[...new Set(info.references)].sort().join(" ")}`);
  if (info.deriver !== undefined) lines.push(`Deriver: ${info.deriver}`);
  for (const sig of [...new Set(info.sigs)].sort()) lines.push(`Sig: ${sig}`);
  if (info.ca !== undefined) lines.push(`CA: ${info.ca}`);
  return lines.map((l) => `${l}\n`).join("");
}
