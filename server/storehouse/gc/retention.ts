// Each org's retention and quota (`flox org set acme --keep-evaluations N --keep-channel-days D --quota SIZE`).
import { eq } from "drizzle-orm";
import type { Db } from "../../db/open.js";
import { orgRetention } from "../../db/tables.js";

/** Hydra keeps 3 by default too; 30 days of channel points covers a month of rollbacks. */
export const DEFAULT_KEEP_EVALUATIONS = 3;
export const DEFAULT_KEEP_CHANNEL_DAYS = 30;

export interface Retention {
  keepEvaluations: number;
  keepChannelDays: number;
  /** null: no quota. */
  quotaBytes: number | null;
}

export const DEFAULT_RETENTION: Retention = {
  keepEvaluations: DEFAULT_KEEP_EVALUATIONS,
  keepChannelDays: DEFAULT_KEEP_CHANNEL_DAYS,
  quotaBytes: null,
};

type Row = typeof orgRetention.$inferSelect;

function withDefaults(row: Row | undefined): Retention {
  return {
    keepEvaluations: row?.keepEvaluations ?? DEFAULT_KEEP_EVALUATIONS,
    keepChannelDays: row?.keepChannelDays ?? DEFAULT_KEEP_CHANNEL_DAYS,
    quotaBytes: row?.quotaBytes ?? null,
  };
}

/** Every org's retention, read once: a lookup that answers the defaults for an org without a row. */
export async function retentionByOrg(db: Db): Promise<(orgId: number) => Retention> {
  const rows = await db.select().from(orgRetention);
  const byOrg = new Map(rows.map((r) => [r.orgId, withDefaults(r)]));
  return (orgId) => byOrg.get(orgId) ?? DEFAULT_RETENTION;
}

export async function orgRetentionOf(db: Db, orgId: number): Promise<Retention> {
  const [row] = await db.select().from(orgRetention).where(eq(orgRetention.orgId, orgId));
  return withDefaults(row);
}

/** What `flox org set` changes; a field left out stays, a null quota removes it. */
export interface RetentionChange {
  keepEvaluations?: number | undefined;
  keepChannelDays?: number | undefined;
  quotaBytes?: number | null | undefined;
}

export async function setOrgRetention(db: Db, orgId: number, change: RetentionChange): Promise<Retention> {
  const set: Partial<Row> = { updatedAt: new Date().toISOString() };
  if (change.keepEvaluations !== undefined) set.keepEvaluations = change.keepEvaluations;
  if (change.keepChannelDays !== undefined) set.keepChannelDays = change.keepChannelDays;
  if (change.quotaBytes !== undefined) set.quotaBytes = change.quotaBytes;
  await db
    .insert(orgRetention)
    .values({ orgId, ...set })
    .onConflictDoUpdate({ target: orgRetention.orgId, set });
  return orgRetentionOf(db, orgId);
}
