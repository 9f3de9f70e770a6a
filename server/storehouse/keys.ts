// The server's signing key, in the files `nix-store --generate-binary-cache-key` writes. Made once: every
// client trusts this key by name, so a new key on restart would make the whole cache untrusted.
import { randomBytes } from "node:crypto";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { generateKeyPair, parseSecretKey, publicKeyOf, type SecretKey } from "../../lib/signature.js";

export interface SigningKey {
  secretKey: SecretKey;
  /** `name:base64`, as `trusted-public-keys` wants it. */
  publicKey: string;
}

/** The key files exist but cannot be used; the operator must decide, so the server refuses to start. */
export class SigningKeyError extends Error {
  override name = "SigningKeyError";
}

export function secretKeyFile(keysDir: string): string {
  return join(keysDir, "secret-key");
}

export function publicKeyFile(keysDir: string): string {
  return join(keysDir, "public-key");
}

/** `flox-<host>-1`: the host tells caches apart in a nix.conf listing several; `-1` leaves room for rotation. */
export function defaultKeyName(host = hostname()): string {
  const clean = host.replace(/[^A-Za-z0-9.-]/g, "-").replace(/^[-.]+|[-.]+$/g, "");
  return `flox-${clean || "local"}-1`;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

// Temp + rename: a crash mid-write must not leave half a key that the next start would refuse.
async function writeAtomically(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, text, { mode, flag: "wx" });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Loads a key an operator gave (`--signing-key FILE`), for fleets: every server signs with the same key and none
 * ever makes its own. Nothing is written; a missing or bad file stops the server with a message saying so.
 */
export async function loadSigningKey(file: string): Promise<SigningKey> {
  let text: string | undefined;
  try {
    text = await readIfExists(file);
  } catch (err) {
    throw new SigningKeyError(`--signing-key ${file} cannot be read (${(err as Error).message})`);
  }
  if (text === undefined) {
    throw new SigningKeyError(
      `--signing-key ${file} does not exist; make one with \`nix-store --generate-binary-cache-key NAME ${file} PUBLIC-FILE\` (or copy the fleet's), then start again`,
    );
  }
  try {
    const secretKey = parseSecretKey(text);
    return { secretKey, publicKey: publicKeyOf(secretKey) };
  } catch (err) {
    throw new SigningKeyError(
      `--signing-key ${file} is not a Nix binary-cache secret key (${(err as Error).message}); give the file nix-store --generate-binary-cache-key wrote as its secret key`,
    );
  }
}

/** Loads the key from `keysDir`, creating it on first start; rewrites a missing or stale public-key file. */
export async function ensureSigningKey(keysDir: string, name = defaultKeyName()): Promise<SigningKey> {
  const secretFile = secretKeyFile(keysDir);
  let secretText = await readIfExists(secretFile);
  if (secretText === undefined) {
    secretText = generateKeyPair(name).secretKey;
    await writeAtomically(secretFile, secretText, 0o600);
  }
  let secretKey: SecretKey;
  try {
    secretKey = parseSecretKey(secretText);
  } catch (err) {
    throw new SigningKeyError(
      `${secretFile} is not a Nix binary-cache secret key (${(err as Error).message}); restore it from a backup, or remove it to make a new key that every client must then trust anew`,
    );
  }
  const publicKey = publicKeyOf(secretKey);
  const publicFile = publicKeyFile(keysDir);
  if ((await readIfExists(publicFile))?.trim() !== publicKey) {
    await writeAtomically(publicFile, publicKey, 0o644);
  }
  return { secretKey, publicKey };
}
