// Push records: one durable row per ref update, written by the post-receive hook or by start-up reconciliation.
import { desc, eq, sql } from "drizzle-orm";
import type { PushSource } from "../../lib/api/pushes.js";
import type { Db } from "../db/open.js";
import { one, rawRows } from "../db/raw.js";
import { pushes } from "../db/tables.js";
import { inTransaction } from "../db/transaction.js";
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
export async function recordPush(
  db: Db,
  org: OrgRecord,
  update: RefUpdate,
  source: PushSource = "hook",
  receivedAt?: string,
): Promise<PushRecord> {
  return inTransaction(db, async (tx) => {
    const row = await tx
      .insert(pushes)
      .values({ orgId: org.id, ...update, source, ...(receivedAt ? { receivedAt } : {}) })
      .returning()
      .then(one);
    const push = toRecord(org, row);
    await enqueueEvaluation(tx, org, push);
    return push;
  });
}

export async function listPushes(db: Db, org: OrgRecord, limit = 100): Promise<PushRecord[]> {
  return (
    await db
      .select()
      .from(pushes)
      .where(eq(pushes.orgId, org.id))
      .orderBy(desc(pushes.receivedAt), desc(pushes.id))
      .limit(limit)
  ).map((row) => toRecord(org, row));
}

/** The newest recorded sha of every ref of the org (zeros for a ref last recorded as deleted). */
export async function lastRecordedShas(db: Db, org: OrgRecord): Promise<Map<string, string>> {
  // By time first: a record spooled by a hook while the server was away is ingested late but happened early.
  const rows = await rawRows<{ ref: string; newSha: string }>(
    db,
    sql`
    select ref, new_sha as "newSha" from (
      select ref, new_sha, row_number() over (partition by ref order by received_at desc, id desc) as n
      from ${pushes} where org_id = ${org.id}
    ) latest where n = 1`,
  );
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
