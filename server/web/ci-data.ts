// What the CI pages read beyond the API's presenters: build-state counts per evaluation, in one query.
import { inArray, sql } from "drizzle-orm";
import type { BuildState } from "../../lib/api/builds.js";
import { jobState } from "../builds/wants.js";
import type { Db } from "../db/open.js";
import { builds, evalJobs } from "../db/tables.js";
import type { StateCounts } from "./components.js";

const bucket: Record<BuildState, keyof StateCounts> = {
  succeeded: "succeeded",
  cached: "succeeded",
  failed: "failed",
  "dependency-failed": "failed",
  "timed-out": "failed",
  aborted: "failed",
  running: "running",
  queued: "queued",
  cancelled: "cancelled",
};

export const emptyCounts = (): StateCounts => ({
  succeeded: 0,
  failed: 0,
  running: 0,
  queued: 0,
  cancelled: 0,
});

/** Per evaluation: how many of its jobs' builds succeeded (or were cached), failed, run, wait, were cancelled. */
export async function stateCounts(db: Db, evaluationIds: number[]): Promise<Map<number, StateCounts>> {
  const out = new Map<number, StateCounts>();
  if (evaluationIds.length === 0) return out;
  const rows = await db
    .select({ evaluation: evalJobs.evaluationId, state: jobState(), n: sql<number>`count(*)` })
    .from(evalJobs)
    .innerJoin(builds, sql`${builds.id} = ${evalJobs.buildId}`)
    .where(inArray(evalJobs.evaluationId, evaluationIds))
    .groupBy(evalJobs.evaluationId, jobState());
  for (const id of evaluationIds) out.set(id, emptyCounts());
  for (const r of rows) {
    const c = out.get(r.evaluation);
    if (c) c[bucket[r.state]] += r.n;
  }
  return out;
}

/** One word for an evaluation: what a badge and the history say. */
export function verdict(
  state: string,
  counts: StateCounts | undefined,
  problems: number,
): "passing" | "failing" | "running" | "queued" | "skipped" {
  if (state === "failed") return "failing";
  if (state === "queued") return "queued";
  if (state === "running") return "running";
  if (state === "skipped") return "skipped";
  if ((counts?.failed ?? 0) > 0 || problems > 0) return "failing";
  if ((counts?.running ?? 0) + (counts?.queued ?? 0) > 0) return "running";
  return "passing";
}
