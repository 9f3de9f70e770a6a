// Every query of jobsets and evaluations: created with their push, claimed in push order, read by the API and the
// pages (jobs, problems, progress, badges).
import { createHash } from "node:crypto";
import { and, asc, desc, eq, gte, inArray, lt, sql } from "drizzle-orm";
import type { EvalJob, EvaluationState } from "../../lib/api/evaluations.js";
import { jobState } from "../builds/wants.js";
import type { Db } from "../db/open.js";
import { first, one, rawRow } from "../db/raw.js";
import { builds, evalJobs, evalProblems, evaluations, jobsets, nowSql, orgs } from "../db/tables.js";
import { inTransaction } from "../db/transaction.js";
import { NotFoundError } from "../errors.js";
import type { OrgRecord } from "../orgs/orgs.js";

export type JobsetRow = typeof jobsets.$inferSelect;
export type EvaluationRow = typeof evaluations.$inferSelect;

/** An evaluation with the names the API shows (org, branch). */
export interface EvaluationRecord extends EvaluationRow {
  org: string;
  branch: string;
}

/** What queuing an evaluation needs of a push record (structural, so this module does not import pushes/). */
export interface QueuedPush {
  id: number;
  ref: string;
  newSha: string;
  pushOptions: readonly string[];
}

export const SKIP_CI = "skip-ci";
const branchPrefix = "refs/heads/";

/** The jobset a ref update feeds, or null: tags and other refs are not jobsets, and a deletion has no commit. */
export function jobsetBranch(update: Pick<QueuedPush, "ref" | "newSha">): string | null {
  if (!update.ref.startsWith(branchPrefix) || /^0+$/.test(update.newSha)) return null;
  return update.ref.slice(branchPrefix.length);
}

export async function ensureJobset(db: Db, org: OrgRecord, branch: string): Promise<JobsetRow> {
  await db.insert(jobsets).values({ orgId: org.id, branch }).onConflictDoNothing();
  const row = await db
    .select()
    .from(jobsets)
    .where(and(eq(jobsets.orgId, org.id), eq(jobsets.branch, branch)))
    .then(first);
  if (!row) throw new Error(`jobset ${org.name}/${branch} vanished right after it was made`);
  return row;
}

/**
 * The evaluation a push asks for, written with the push record (same transaction, see recordPush) so that a
 * crash can never leave a recorded push without one. `skip-ci` makes it `skipped` at once.
 */
export async function enqueueEvaluation(
  db: Db,
  org: OrgRecord,
  push: QueuedPush,
): Promise<EvaluationRow | null> {
  const branch = jobsetBranch(push);
  if (branch === null) return null;
  const jobset = await ensureJobset(db, org, branch);
  const skipped = push.pushOptions.includes(SKIP_CI);
  return await db
    .insert(evaluations)
    .values({
      jobsetId: jobset.id,
      pushId: push.id,
      commitSha: push.newSha,
      state: skipped ? "skipped" : "queued",
      ...(skipped ? { finishedAt: nowSql } : {}),
    })
    .returning()
    .then(one);
}

/** Starts of an evaluation that ended with the server gone (crashed, killed) before it is failed instead. */
export const MAX_EVALUATION_ATTEMPTS = 3;

/** The evaluations marked running, with when they started: the candidates for requeueRunning. */
export async function runningEvaluations(db: Db): Promise<{ id: number; startedAt: string | null }[]> {
  return await db
    .select({ id: evaluations.id, startedAt: evaluations.startedAt })
    .from(evaluations)
    .where(eq(evaluations.state, "running"));
}

/**
 * Evaluations a killed server left `running` (all of them, or those of `only`) go back to the queue, except those
 * it already started MAX_EVALUATION_ATTEMPTS times: such an evaluation may be what kills the server, so it is
 * failed with the reason.
 */
export async function requeueRunning(
  db: Db,
  only?: readonly number[],
): Promise<{ requeued: number; failed: number[] }> {
  if (only?.length === 0) return { requeued: 0, failed: [] };
  const these = only ? inArray(evaluations.id, [...only]) : undefined;
  return inTransaction(db, async (tx) => {
    const failed = (
      await tx
        .update(evaluations)
        .set({
          state: "failed",
          error:
            `the server stopped ${MAX_EVALUATION_ATTEMPTS} times while evaluating this commit (it crashed or was killed), ` +
            "so it is not tried again; the server's log (DATA_DIR/logs/server.log) may say why; push again to retry",
          finishedAt: nowSql,
        })
        .where(
          and(eq(evaluations.state, "running"), gte(evaluations.attempts, MAX_EVALUATION_ATTEMPTS), these),
        )
        .returning({ id: evaluations.id })
    ).map((r) => r.id);
    const requeued = (
      await tx
        .update(evaluations)
        .set({ state: "queued", startedAt: null })
        .where(and(eq(evaluations.state, "running"), these))
        .returning({ id: evaluations.id })
    ).length;
    return { requeued, failed };
  });
}

/** A clean shutdown cut evaluation `id` short: that start does not count against it. */
export async function giveBackAttempt(db: Db, id: number): Promise<void> {
  await db
    .update(evaluations)
    .set({ attempts: sql`case when ${evaluations.attempts} > 0 then ${evaluations.attempts} - 1 else 0 end` })
    .where(and(eq(evaluations.id, id), eq(evaluations.state, "running")));
}

/**
 * The next evaluation to run: per jobset only the oldest queued one (push order), and only when none of that
 * jobset is running. `busy` are jobsets this process is evaluating right now.
 */
export async function claimNext(db: Db): Promise<EvaluationRow | undefined> {
  return inTransaction(db, async (tx) => {
    const next = await rawRow<{ id: number }>(
      tx,
      sql`
      select e.id from ${evaluations} e
      where e.state = 'queued'
        and not exists (select 1 from ${evaluations} r where r.jobset_id = e.jobset_id and r.state = 'running')
        and not exists (select 1 from ${evaluations} q where q.jobset_id = e.jobset_id and q.state = 'queued' and q.id < e.id)
      order by e.id limit 1`,
    );
    if (!next) return undefined;
    return await tx
      .update(evaluations)
      .set({
        state: "running",
        startedAt: nowSql,
        attempts: sql`${evaluations.attempts} + 1`,
      })
      .where(and(eq(evaluations.id, next.id), eq(evaluations.state, "queued")))
      .returning()
      .then(one);
  });
}

const withNames = (db: Db) =>
  db
    .select({ e: evaluations, org: orgs.name, branch: jobsets.branch })
    .from(evaluations)
    .innerJoin(jobsets, eq(jobsets.id, evaluations.jobsetId))
    .innerJoin(orgs, eq(orgs.id, jobsets.orgId));

const named = (r: { e: EvaluationRow; org: string; branch: string }): EvaluationRecord => ({
  ...r.e,
  org: r.org,
  branch: r.branch,
});

export async function findEvaluation(db: Db, id: number): Promise<EvaluationRecord | undefined> {
  const row = await withNames(db).where(eq(evaluations.id, id)).then(first);
  return row ? named(row) : undefined;
}

/** Also the answer for an evaluation of an org the caller may not read: the two must look the same. */
export function noSuchEvaluation(id: number): NotFoundError {
  return new NotFoundError(`there is no evaluation #${id}; \`flox evals ORG/BRANCH\` lists them`);
}

export async function getEvaluation(db: Db, id: number): Promise<EvaluationRecord> {
  const e = await findEvaluation(db, id);
  if (!e) throw noSuchEvaluation(id);
  return e;
}

export async function evaluationOfPush(db: Db, pushId: number): Promise<EvaluationRecord | undefined> {
  const row = await withNames(db).where(eq(evaluations.pushId, pushId)).then(first);
  return row ? named(row) : undefined;
}

export async function listJobsets(db: Db, org: OrgRecord): Promise<JobsetRow[]> {
  return await db.select().from(jobsets).where(eq(jobsets.orgId, org.id)).orderBy(asc(jobsets.branch));
}

export async function findJobset(db: Db, org: OrgRecord, branch: string): Promise<JobsetRow | undefined> {
  return await db
    .select()
    .from(jobsets)
    .where(and(eq(jobsets.orgId, org.id), eq(jobsets.branch, branch)))
    .then(first);
}

export async function getJobset(db: Db, org: OrgRecord, branch: string): Promise<JobsetRow> {
  const row = await findJobset(db, org, branch);
  if (!row) {
    throw new NotFoundError(
      `org "${org.name}" has no jobset "${branch}" (a branch becomes one at its first push); \`flox jobsets ${org.name}\` lists them`,
    );
  }
  return row;
}

/** Newest first. */
export async function listEvaluations(db: Db, jobsetIds: number[], limit = 100): Promise<EvaluationRecord[]> {
  if (jobsetIds.length === 0) return [];
  return (
    await withNames(db)
      .where(inArray(evaluations.jobsetId, jobsetIds))
      .orderBy(desc(evaluations.id))
      .limit(limit)
  ).map(named);
}

export async function latestEvaluation(db: Db, jobsetId: number): Promise<EvaluationRecord | undefined> {
  return (await listEvaluations(db, [jobsetId], 1))[0];
}

/** The newest evaluation of the jobset before `id` that succeeded: what `id` is compared with. */
export async function previousSucceeded(db: Db, e: EvaluationRow): Promise<EvaluationRow | undefined> {
  return await db
    .select()
    .from(evaluations)
    .where(
      and(eq(evaluations.jobsetId, e.jobsetId), lt(evaluations.id, e.id), eq(evaluations.state, "succeeded")),
    )
    .orderBy(desc(evaluations.id))
    .limit(1)
    .then(first);
}

export async function problemsOf(db: Db, evaluationId: number) {
  return await db
    .select()
    .from(evalProblems)
    .where(eq(evalProblems.evaluationId, evaluationId))
    .orderBy(asc(evalProblems.id));
}

export const finishedStates: readonly EvaluationState[] = ["succeeded", "failed", "skipped"];

/** The evaluation's jobs with their builds' states, by attr. */
export async function jobsOf(db: Db, evaluationId: number): Promise<EvalJob[]> {
  return (
    await db
      .select({ job: evalJobs, state: jobState() })
      .from(evalJobs)
      .innerJoin(builds, eq(builds.id, evalJobs.buildId))
      .where(eq(evalJobs.evaluationId, evaluationId))
      .orderBy(asc(evalJobs.attr))
  ).map(({ job, state }) => ({
    attr: job.attr,
    name: job.name,
    system: job.system,
    drvPath: job.drvPath,
    outputs: job.outputs,
    build: { id: job.buildId, state },
  }));
}

/**
 * The evaluation's state and its jobs' build states, with a short digest (`version`) that changes with any of them
 * or with its problem count: the hook's `-o wait` long-poll and the live evaluation page both follow it. Cheap: no
 * comparison.
 */
export async function evaluationProgress(db: Db, evaluationId: number) {
  const evaluation = await findEvaluation(db, evaluationId);
  const jobs = (
    await db
      .select({ attr: evalJobs.attr, id: builds.id, state: jobState() })
      .from(evalJobs)
      .innerJoin(builds, eq(builds.id, evalJobs.buildId))
      .where(eq(evalJobs.evaluationId, evaluationId))
      .orderBy(asc(evalJobs.attr))
  ).map((j) => ({ attr: j.attr, build: { id: j.id, state: j.state } }));
  const version = createHash("sha256")
    .update(
      `${evaluation?.state}|${evaluation?.problemCount}|${jobs.map((j) => `${j.build.id}:${j.build.state}`).join(",")}`,
    )
    .digest("hex")
    .slice(0, 16);
  return { evaluation, jobs, version };
}

/** Whether any job of the evaluation still waits for or runs its build. */
export async function hasUnfinishedJobs(db: Db, evaluationId: number): Promise<boolean> {
  const busy = await db
    .select({ id: builds.id })
    .from(evalJobs)
    .innerJoin(builds, eq(builds.id, evalJobs.buildId))
    .where(and(eq(evalJobs.evaluationId, evaluationId), inArray(jobState(), ["queued", "running"])))
    .limit(1)
    .then(first);
  return busy !== undefined;
}

/** When each of these builds started and finished, by build id. */
export async function buildTimes(
  db: Db,
  buildIds: number[],
): Promise<Map<number, { startedAt: string | null; finishedAt: string | null }>> {
  if (buildIds.length === 0) return new Map();
  return new Map(
    (
      await db
        .select({ id: builds.id, startedAt: builds.startedAt, finishedAt: builds.finishedAt })
        .from(builds)
        .where(inArray(builds.id, buildIds))
    ).map((b) => [b.id, b] as const),
  );
}

/**
 * A job's status across the jobset for its badge: "failing" when its newest evaluation problem is newer than its
 * newest job, else that job's build state, else "unknown".
 */
export async function jobBadgeStatus(db: Db, jobsetId: number, attr: string): Promise<string> {
  const job = await db
    .select({ evaluation: evalJobs.evaluationId, state: jobState() })
    .from(evalJobs)
    .innerJoin(evaluations, eq(evaluations.id, evalJobs.evaluationId))
    .innerJoin(builds, eq(builds.id, evalJobs.buildId))
    .where(and(eq(evaluations.jobsetId, jobsetId), eq(evalJobs.attr, attr)))
    .orderBy(desc(evalJobs.evaluationId))
    .limit(1)
    .then(first);
  const problem = await db
    .select({ evaluation: evalProblems.evaluationId })
    .from(evalProblems)
    .innerJoin(evaluations, eq(evaluations.id, evalProblems.evaluationId))
    .where(and(eq(evaluations.jobsetId, jobsetId), eq(evalProblems.attr, attr)))
    .orderBy(desc(evalProblems.evaluationId))
    .limit(1)
    .then(first);
  return problem && (!job || problem.evaluation > job.evaluation) ? "failing" : (job?.state ?? "unknown");
}
