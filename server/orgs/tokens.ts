// API tokens. The secret is shown once at creation; the database keeps only its sha256.
import { createHash, randomBytes } from "node:crypto";
import { and, asc, eq, inArray, isNull } from "drizzle-orm";
import type { Role } from "../../lib/api/orgs.js";
import type { TokenScope } from "../../lib/api/tokens.js";
import type { Db } from "../db/open.js";
import { first, one } from "../db/raw.js";
import { orgs, tokens, users } from "../db/tables.js";
import { ConflictError, InvalidInputError, NotFoundError, UnauthenticatedError } from "../errors.js";

export interface TokenRecord {
  id: number;
  name: string | null;
  scope: TokenScope;
  orgId: number | null;
  org: string | null;
  role: Role | null;
  userId: number | null;
  user: string | null;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** Who did something, for history records: the user, else the token's name, else its kind and id. */
export function actorOf(t: TokenRecord): string {
  return t.user ?? t.name ?? `${t.scope} token #${t.id}`;
}

export interface TokenSpec {
  scope: TokenScope;
  orgId?: number;
  role?: Role;
  userId?: number;
  name?: string;
}

const PREFIX_LENGTH = 10;
// Writing last_used_at on every request would turn each read into a write; a minute is precise enough.
const LAST_USED_RESOLUTION_MS = 60_000;

/** `flox_` + 43 base64url characters: 256 random bits. */
export function generateSecret(): string {
  return `flox_${randomBytes(32).toString("base64url")}`;
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

const selectRecord = {
  id: tokens.id,
  name: tokens.name,
  scope: tokens.scope,
  orgId: tokens.orgId,
  org: orgs.name,
  role: tokens.role,
  userId: tokens.userId,
  user: users.name,
  prefix: tokens.prefix,
  createdAt: tokens.createdAt,
  lastUsedAt: tokens.lastUsedAt,
  revokedAt: tokens.revokedAt,
};

function selectTokens(db: Db) {
  return db
    .select(selectRecord)
    .from(tokens)
    .leftJoin(orgs, eq(orgs.id, tokens.orgId))
    .leftJoin(users, eq(users.id, tokens.userId));
}

export async function findTokenById(db: Db, id: number): Promise<TokenRecord | undefined> {
  return await selectTokens(db).where(eq(tokens.id, id)).then(first);
}

async function findTokenByHash(db: Db, hash: string): Promise<TokenRecord | undefined> {
  return await selectTokens(db).where(eq(tokens.hash, hash)).then(first);
}

/** Tokens of the given orgs, or all tokens when `orgIds` is omitted; oldest first. */
export async function listTokens(db: Db, orgIds?: number[]): Promise<TokenRecord[]> {
  return await selectTokens(db)
    .where(orgIds ? inArray(tokens.orgId, orgIds) : undefined)
    .orderBy(asc(tokens.id));
}

async function insertToken(db: Db, spec: TokenSpec, secret: string): Promise<TokenRecord> {
  const { id } = await db
    .insert(tokens)
    .values({
      hash: hashSecret(secret),
      scope: spec.scope,
      orgId: spec.orgId ?? null,
      role: spec.role ?? null,
      userId: spec.userId ?? null,
      name: spec.name ?? null,
      prefix: secret.slice(0, PREFIX_LENGTH),
    })
    .returning({ id: tokens.id })
    .then(one);
  const record = await findTokenById(db, id);
  if (!record) throw new Error(`token ${id} vanished right after it was inserted`);
  return record;
}

/** Creates a token with a fresh secret. The secret is returned here and never again. */
export async function createToken(db: Db, spec: TokenSpec): Promise<{ token: TokenRecord; secret: string }> {
  const secret = generateSecret();
  return { token: await insertToken(db, spec, secret), secret };
}

/**
 * Finds the live token for `secret`. Looking up by hash keeps the comparison independent of how much of the
 * secret matches, so response times tell an attacker nothing about it.
 */
export async function authenticateSecret(db: Db, secret: string, now = new Date()): Promise<TokenRecord> {
  const token = await findTokenByHash(db, hashSecret(secret));
  if (!token) {
    throw new UnauthenticatedError(
      "the token is not known to this server (mistyped, or from another server); ask an admin or org owner for a token",
      "unknown_token",
    );
  }
  if (token.revokedAt) {
    throw new UnauthenticatedError(
      `the token ${token.prefix}… was revoked at ${token.revokedAt}; ask an admin or org owner for a new one`,
      "revoked_token",
    );
  }
  const last = token.lastUsedAt ? Date.parse(token.lastUsedAt) : 0;
  if (now.getTime() - last >= LAST_USED_RESOLUTION_MS) {
    const stamp = now.toISOString();
    try {
      await db.update(tokens).set({ lastUsedAt: stamp }).where(eq(tokens.id, token.id));
      token.lastUsedAt = stamp;
    } catch {
      // Only a hint: a database that cannot be written (a full disk) must not refuse a request that only reads.
    }
  }
  return token;
}

/** Marks the token revoked. Revoking twice keeps the first time. */
export async function revokeToken(db: Db, id: number, now = new Date()): Promise<TokenRecord> {
  await db
    .update(tokens)
    .set({ revokedAt: now.toISOString() })
    .where(and(eq(tokens.id, id), isNull(tokens.revokedAt)));
  const token = await findTokenById(db, id);
  if (!token) throw new NotFoundError(`there is no token with id ${id}; \`flox token list\` shows them`);
  return token;
}

export type EnsureAdminResult =
  | { kind: "given"; token: TokenRecord }
  | { kind: "existing" }
  | { kind: "generated"; token: TokenRecord; secret: string };

/**
 * Makes sure the server can be administered. With `secret` (from --admin-token / FLOX_ADMIN_TOKEN), a live
 * admin token with that secret exists afterwards; without, one is generated only when no live admin token exists.
 */
export async function ensureAdminToken(db: Db, secret: string | undefined): Promise<EnsureAdminResult> {
  if (secret !== undefined) {
    if (secret.length === 0 || /\s/.test(secret)) {
      throw new InvalidInputError("the admin token must be non-empty and contain no whitespace");
    }
    const existing = await findTokenByHash(db, hashSecret(secret));
    if (existing) {
      if (existing.scope !== "admin") {
        throw new ConflictError(
          `the admin token given is already in use as a "${existing.scope}" token (id ${existing.id}); choose another secret`,
        );
      }
      // The operator names this secret on the command line, so they want it to work, even if it was revoked before.
      if (existing.revokedAt)
        await db.update(tokens).set({ revokedAt: null }).where(eq(tokens.id, existing.id));
      return { kind: "given", token: (await findTokenById(db, existing.id)) ?? existing };
    }
    return {
      kind: "given",
      token: await insertToken(db, { scope: "admin", name: "admin (from --admin-token)" }, secret),
    };
  }
  const live = await db
    .select({ id: tokens.id })
    .from(tokens)
    .where(and(eq(tokens.scope, "admin"), isNull(tokens.revokedAt)))
    .then(first);
  if (live) return { kind: "existing" };
  const created = await createToken(db, { scope: "admin", name: "admin (generated at first start)" });
  return { kind: "generated", ...created };
}
