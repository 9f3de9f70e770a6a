// The signing key of servers that share one PostgreSQL: recorded in the database, so that no second server ever
// signs with a key of its own (clients trust one key by name; a second key would make half the cache untrusted).
// With a server secret (FLOX_SERVER_SECRET, the same on every server) the secret key itself is kept there, sealed,
// and a new server needs nothing else; without one, every server is given the key's file (--signing-key).
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from "node:crypto";
import { existsSync } from "node:fs";
import { eq } from "drizzle-orm";
import { parseSecretKey, publicKeyOf, type SecretKey } from "../../lib/signature.js";
import type { Db } from "../db/open.js";
import { first } from "../db/raw.js";
import { serverSecrets } from "../db/tables.js";
import { ensureSigningKey, loadSigningKey, type SigningKey, SigningKeyError, secretKeyFile } from "./keys.js";

const NAME = "signing-key";

export interface FleetKeyOptions {
  /** `--signing-key FILE`, when given. */
  keyFile?: string | undefined;
  /** DATA_DIR/keys: where a server with neither a file nor a sealed key keeps (or makes) its own. */
  keysDir: string;
  /** FLOX_SERVER_SECRET: seals and opens the key kept in the database. */
  serverSecret?: string | undefined;
}

function cipherKey(secret: string): Buffer {
  // A fixed salt: every server must derive the same key from the same secret.
  return scryptSync(secret, "flox server secrets v1", 32);
}

export function seal(text: string, secret: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", cipherKey(secret), iv);
  const body = Buffer.concat([c.update(text, "utf8"), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), body]).toString("base64");
}

/** Undefined when `secret` is not the one it was sealed with (GCM's tag does not match). */
export function unseal(sealed: string, secret: string): string | undefined {
  const raw = Buffer.from(sealed, "base64");
  try {
    const d = createDecipheriv("aes-256-gcm", cipherKey(secret), raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString("utf8");
  } catch {
    return undefined;
  }
}

type Row = typeof serverSecrets.$inferSelect;

function fromRow(row: Row, opts: FleetKeyOptions): SigningKey {
  if (!row.sealed) {
    throw new SigningKeyError(
      `the servers on this database sign with ${row.publicValue}, a key this server does not have; give it the same key file (--signing-key FILE), or keep the key in the database by starting the servers with the same FLOX_SERVER_SECRET`,
    );
  }
  if (!opts.serverSecret) {
    throw new SigningKeyError(
      `the fleet's signing key (${row.publicValue}) is kept in the database, sealed; start this server with FLOX_SERVER_SECRET set to the fleet's secret, or give it the key file (--signing-key FILE)`,
    );
  }
  const text = unseal(row.sealed, opts.serverSecret);
  if (text === undefined) {
    throw new SigningKeyError(
      `FLOX_SERVER_SECRET does not open the fleet's signing key (${row.publicValue}) kept in the database; give this server the same secret as the others`,
    );
  }
  const secretKey = parseSecretKey(text);
  return { secretKey, publicKey: publicKeyOf(secretKey) };
}

/** Nix's text form of a secret key (`name:base64(seed ‖ public)`), as the key files hold it. */
function keyText(k: SecretKey): string {
  return `${k.name}:${Buffer.concat([k.seed, k.publicKey]).toString("base64")}`;
}

/**
 * The key to sign with: the file given, the one kept in the database, or (first server of a fleet) this data dir's,
 * recorded for the others. Throws SigningKeyError, with what to do, when this server would sign differently.
 */
export async function fleetSigningKey(db: Db, opts: FleetKeyOptions): Promise<SigningKey> {
  const recorded = () => db.select().from(serverSecrets).where(eq(serverSecrets.name, NAME)).then(first);
  let row = await recorded();
  if (!opts.keyFile && row) {
    // A server that signed for the fleet before (its own files hold the key) needs nothing more.
    const own = secretKeyFile(opts.keysDir);
    const local = existsSync(own) ? await loadSigningKey(own) : undefined;
    if (local?.publicKey === row.publicValue) return local;
    return fromRow(row, opts);
  }
  const key = opts.keyFile ? await loadSigningKey(opts.keyFile) : await ensureSigningKey(opts.keysDir);
  if (!row) {
    await db
      .insert(serverSecrets)
      .values({
        name: NAME,
        publicValue: key.publicKey,
        sealed: opts.serverSecret ? seal(keyText(key.secretKey), opts.serverSecret) : null,
      })
      .onConflictDoNothing();
    // Two first servers starting together: the one whose row landed is the fleet's key.
    row = await recorded();
  }
  if (row && row.publicValue !== key.publicKey) {
    if (!opts.keyFile && row.sealed) return fromRow(row, opts);
    throw new SigningKeyError(
      `${opts.keyFile ? `--signing-key ${opts.keyFile}` : `this server's key (${secretKeyFile(opts.keysDir)})`} is ${key.publicKey}, but the servers on this database sign with ${row.publicValue}; give every server the same key file`,
    );
  }
  if (row && !row.sealed && opts.serverSecret) {
    // Given the secret now: the key goes into the database, so the next server needs only the secret.
    await db
      .update(serverSecrets)
      .set({ sealed: seal(keyText(key.secretKey), opts.serverSecret) })
      .where(eq(serverSecrets.name, NAME));
  }
  return key;
}
