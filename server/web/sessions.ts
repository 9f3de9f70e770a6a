// Web sessions: a browser logs in with a token once and gets a cookie; the cookie's session acts as that token.
import { createHash, randomBytes } from "node:crypto";
import { eq, lt } from "drizzle-orm";
import { sameSecret } from "../../lib/same-secret.js";
import type { Db } from "../db/open.js";
import { first } from "../db/raw.js";
import { webSessions } from "../db/tables.js";
import { authenticateSecret, findTokenById, type TokenRecord } from "../orgs/tokens.js";

/** How long a login lasts. */
export const SESSION_DAYS = 14;

export interface WebSession {
  /** The session's row id (sha256 of the cookie secret). */
  id: string;
  token: TokenRecord;
  /** What every action form of this session carries as `_csrf`. */
  csrf: string;
}

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

/** Checks `secret` like the API does (unknown or revoked → UnauthenticatedError) and opens a session for it. */
export async function createSession(
  db: Db,
  secret: string,
  now = new Date(),
): Promise<{ cookie: string; session: WebSession }> {
  const token = await authenticateSecret(db, secret, now);
  const cookie = randomBytes(32).toString("base64url");
  const csrf = randomBytes(24).toString("base64url");
  const id = sha256(cookie);
  const expiresAt = new Date(now.getTime() + SESSION_DAYS * 86_400_000).toISOString();
  await db.insert(webSessions).values({ id, tokenId: token.id, csrf, expiresAt });
  // Expired rows go when someone logs in: cheap, and nothing reads them.
  await db.delete(webSessions).where(lt(webSessions.expiresAt, now.toISOString()));
  return { cookie, session: { id, token, csrf } };
}

/** The live session a cookie names, or undefined (unknown, expired, or its token revoked). */
export async function findSession(db: Db, cookie: string, now = new Date()): Promise<WebSession | undefined> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(cookie)) return undefined;
  const row = await db
    .select()
    .from(webSessions)
    .where(eq(webSessions.id, sha256(cookie)))
    .then(first);
  if (!row || row.expiresAt <= now.toISOString()) return undefined;
  const token = await findTokenById(db, row.tokenId);
  if (!token || token.revokedAt) return undefined;
  return { id: row.id, token, csrf: row.csrf };
}

export async function deleteSession(db: Db, id: string): Promise<void> {
  await db.delete(webSessions).where(eq(webSessions.id, id));
}

/** Constant-time comparison of a submitted CSRF token with the session's. */
export function csrfMatches(session: WebSession, submitted: unknown): boolean {
  if (typeof submitted !== "string" || submitted.length === 0) return false;
  return sameSecret(session.csrf, submitted);
}
