// The database's own garbage, pruned with each collection: expired web sessions, and feed events no machine can
// still need (older than the resume window; the newest event of each profile and channel always stays).
import { and, lt, notInArray, sql } from "drizzle-orm";
import type { Db } from "../../db/open.js";
import { changeEvents, webSessions } from "../../db/tables.js";

export async function pruneExpiredSessions(db: Db, now: Date, dryRun: boolean): Promise<number> {
  const where = lt(webSessions.expiresAt, now.toISOString());
  if (dryRun) {
    const [row] = await db.select({ n: sql<number>`count(*)` }).from(webSessions).where(where);
    return Number(row?.n ?? 0);
  }
  const gone = await db.delete(webSessions).where(where).returning({ id: webSessions.id });
  return gone.length;
}

/**
 * A machine resuming from an event older than `keepDays` gets what is left of the feed and then the snapshot of
 * everything it follows (server/machines/routes.ts), so nothing it needs is lost; the newest event per subject stays
 * so the feed's last id never goes backwards.
 */
export async function pruneChangeEvents(
  db: Db,
  now: Date,
  keepDays: number,
  dryRun: boolean,
): Promise<number> {
  const cutoff = new Date(now.getTime() - keepDays * 24 * 60 * 60 * 1000).toISOString();
  const newest = db
    .select({ id: sql<number>`max(${changeEvents.id})` })
    .from(changeEvents)
    .groupBy(changeEvents.kind, changeEvents.profileId, changeEvents.jobsetId);
  const where = and(lt(changeEvents.createdAt, cutoff), notInArray(changeEvents.id, newest));
  if (dryRun) {
    const [row] = await db.select({ n: sql<number>`count(*)` }).from(changeEvents).where(where);
    return Number(row?.n ?? 0);
  }
  const gone = await db.delete(changeEvents).where(where).returning({ id: changeEvents.id });
  return gone.length;
}
