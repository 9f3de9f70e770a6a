// Push records: one durable row per ref update, written by the post-receive hook or by start-up reconciliation.
import { desc, eq, sql } from "drizzle-orm";
import type { PushSource } from "../../lib/api/pushes.js";
import type { Db } from "../db/open.js";
import { pushes } from "../db/schema.js";
import { enqueueEvaluation } from "../evaluations/data.js";
import type { OrgRecord } from "../orgs/orgs.js";

export interface PushRecord {
  id: number;
  org: string;
  ref: string;
  oldSha: string;
  newSha: string;
  pushOptions: string[];
  source: PushSource;
  receivedAt: string;
}

export interface RefUpdate {
  ref: string;
  oldSha: string;
  newSha: string;
  pushOptions: string[];
}

type PushRow = typeof pushes.$inferSelect;

const toRecord = (org: OrgRecord, row: PushRow): PushRecord => ({
  id: row.id,
  org: org.name,
  ref: row.ref,
  oldSha: row.oldSha,
  newSha: row.newSha,
  pushOptions: row.pushOptions,
  source: row.source,
  receivedAt: row.receivedAt,
});

/**
 * `receivedAt` defaults to now; spooled records bring the time the hook saw them. A branch update queues its
 * evaluation in the same transaction, so no recorded push is ever left without one (spooled and reconciled
 * records included).
 */
export function recordPush(
  db: Db,
  org: OrgRecord,
  update: RefUpdate,
  source: PushSource = "hook",
  receivedAt?: string,
): PushRecord {
  return db.transaction((tx) => {
    const row = tx
      .insert(pushes)
      .values({ orgId: org.id, ...update, source, ...(receivedAt ? { receivedAt } : {}) })
      .returning()
      .get();
    const push = toRecord(org, row);
    enqueueEvaluation(tx, org, push);
    return push;
  });
}

export function listPushes(db: Db, org: OrgRecord, limit = 100): PushRecord[] {
  return db
    .select()
    .from(pushes)
    .where(eq(pushes.orgId, org.id))
    .orderBy(desc(pushes.receivedAt), desc(pushes.id))
    .limit(limit)
    .all()
    .map((row) => toRecord(org, row));
}

/** The newest recorded sha of every ref of the org (zeros for a ref last recorded as deleted). */
export function lastRecordedShas(db: Db, org: OrgRecord): Map<string, string> {
  // By time first: a record spooled by a hook while the server was away is ingested late but happened early.
  const rows = db.all<{ ref: string; newSha: string }>(sql`
    select ref, new_sha as newSha from (
      select ref, new_sha, row_number() over (partition by ref order by received_at desc, id desc) as n
      from ${pushes} where org_id = ${org.id}
    ) where n = 1`);
  return new Map(rows.map((r) => [r.ref, r.newSha]));
}

/**
 * The updates that explain how the repo got from what was recorded to `current` (ref → sha): a ref that moved,
 * appeared or vanished without a record (the server stopped between the ref update and post-receive).
 */
export function missingUpdates(recorded: Map<string, string>, current: Map<string, string>): RefUpdate[] {
  const updates: RefUpdate[] = [];
  for (const [ref, sha] of current) {
    const before = recorded.get(ref);
    if (before !== sha)
      updates.push({ ref, oldSha: before ?? zeroShaLike(sha), newSha: sha, pushOptions: [] });
  }
  for (const [ref, before] of recorded) {
    if (!current.has(ref) && !/^0+$/.test(before)) {
      updates.push({ ref, oldSha: before, newSha: zeroShaLike(before), pushOptions: [] });
    }
  }
  return updates.sort((a, b) => a.ref.localeCompare(b.ref));
}

function zeroShaLike(sha: string): string {
  return "0".repeat(sha.length);
}
