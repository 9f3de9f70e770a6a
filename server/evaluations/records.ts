// Jobsets and evaluations in the database: created with their push, claimed in push order, read by the API.
import { and, asc, desc, eq, gte, inArray, lt, sql } from "drizzle-orm";
import type { Evaluation, EvaluationState } from "../../lib/api/evaluations.js";
import type { Db } from "../db/open.js";
import { evalProblems, evaluations, jobsets, orgs } from "../db/schema.js";
import type { OrgRecord } from "../domain/orgs.js";
import type { PushRecord } from "../domain/pushes.js";
import { NotFoundError } from "../errors.js";

export type JobsetRow = typeof jobsets.$inferSelect;
export type EvaluationRow = typeof evaluations.$inferSelect;

/** An evaluation with the names the API shows (org, branch). */
export interface EvaluationRecord extends EvaluationRow {
  org: string;
  branch: string;
}

export const SKIP_CI = "skip-ci";
const branchPrefix = "refs/heads/";

/** The jobset a ref update feeds, or null: tags and other refs are not jobsets, and a deletion has no commit. */
export function jobsetBranch(update: Pick<PushRecord, "ref" | "newSha">): string | null {
  if (!update.ref.startsWith(branchPrefix) || /^0+$/.test(update.newSha)) return null;
  return update.ref.slice(branchPrefix.length);
}

export function ensureJobset(db: Db, org: OrgRecord, branch: string): JobsetRow {
  db.insert(jobsets).values({ orgId: org.id, branch }).onConflictDoNothing().run();
  const row = db
    .select()
    .from(jobsets)
    .where(and(eq(jobsets.orgId, org.id), eq(jobsets.branch, branch)))
    .get();
  if (!row) throw new Error(`jobset ${org.name}/${branch} vanished right after it was made`);
  return row;
}

/**
 * The evaluation a push asks for, written with the push record (same transaction, see recordPush) so that a
 * crash can never leave a recorded push without one. `skip-ci` makes it `skipped` at once.
 */
export function enqueueEvaluation(db: Db, org: OrgRecord, push: PushRecord): EvaluationRow | null {
  const branch = jobsetBranch(push);
  if (branch === null) return null;
  const jobset = ensureJobset(db, org, branch);
  const skipped = push.pushOptions.includes(SKIP_CI);
  return db
    .insert(evaluations)
    .values({
      jobsetId: jobset.id,
      pushId: push.id,
      commitSha: push.newSha,
      state: skipped ? "skipped" : "queued",
      ...(skipped ? { finishedAt: sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))` } : {}),
    })
    .returning()
    .get();
}

/** Starts of an evaluation that ended with the server gone (crashed, killed) before it is failed instead. */
export const MAX_EVALUATION_ATTEMPTS = 3;

/**
 * Evaluations a killed server left `running` go back to the queue, except those it already started
 * MAX_EVALUATION_ATTEMPTS times: such an evaluation may be what kills the server, so it is failed with the reason.
 */
export function requeueRunning(db: Db): { requeued: number; failed: number[] } {
  return db.transaction((tx) => {
    const failed = tx
      .update(evaluations)
      .set({
        state: "failed",
        error:
          `the server stopped ${MAX_EVALUATION_ATTEMPTS} times while evaluating this commit (it crashed or was killed), ` +
          "so it is not tried again; the server's log (DATA_DIR/logs/server.log) may say why; push again to retry",
        finishedAt: sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`,
      })
      .where(and(eq(evaluations.state, "running"), gte(evaluations.attempts, MAX_EVALUATION_ATTEMPTS)))
      .returning({ id: evaluations.id })
      .all()
      .map((r) => r.id);
    const requeued = tx
      .update(evaluations)
      .set({ state: "queued", startedAt: null })
      .where(eq(evaluations.state, "running"))
      .run().changes;
    return { requeued, failed };
  });
}

/** A clean shutdown cut evaluation `id` short: that start does not count against it. */
export function giveBackAttempt(db: Db, id: number): void {
  db.update(evaluations)
    .set({ attempts: sql`max(${evaluations.attempts} - 1, 0)` })
    .where(and(eq(evaluations.id, id), eq(evaluations.state, "running")))
    .run();
}

/**
 * The next evaluation to run: per jobset only the oldest queued one (push order), and only when none of that
 * jobset is running. `busy` are jobsets this process is evaluating right now.
 */
export function claimNext(db: Db): EvaluationRow | undefined {
  return db.transaction((tx) => {
    const next = tx.get<{ id: number } | undefined>(sql`
      select e.id from ${evaluations} e
      where e.state = 'queued'
        and not exists (select 1 from ${evaluations} r where r.jobset_id = e.jobset_id and r.state = 'running')
        and not exists (select 1 from ${evaluations} q where q.jobset_id = e.jobset_id and q.state = 'queued' and q.id < e.id)
      order by e.id limit 1`);
    if (!next) return undefined;
    return tx
      .update(evaluations)
      .set({
        state: "running",
        startedAt: sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`,
        attempts: sql`${evaluations.attempts} + 1`,
      })
      .where(and(eq(evaluations.id, next.id), eq(evaluations.state, "queued")))
      .returning()
      .get();
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

export function findEvaluation(db: Db, id: number): EvaluationRecord | undefined {
  const row = withNames(db).where(eq(evaluations.id, id)).get();
  return row ? named(row) : undefined;
}

/** Also the answer for an evaluation of an org the caller may not read: the two must look the same. */
export function noSuchEvaluation(id: number): NotFoundError {
  return new NotFoundError(`there is no evaluation #${id}; \`flox evals ORG/BRANCH\` lists them`);
}

export function getEvaluation(db: Db, id: number): EvaluationRecord {
  const e = findEvaluation(db, id);
  if (!e) throw noSuchEvaluation(id);
  return e;
}

export function evaluationOfPush(db: Db, pushId: number): EvaluationRecord | undefined {
  const row = withNames(db).where(eq(evaluations.pushId, pushId)).get();
  return row ? named(row) : undefined;
}

export function listJobsets(db: Db, org: OrgRecord): JobsetRow[] {
  return db.select().from(jobsets).where(eq(jobsets.orgId, org.id)).orderBy(asc(jobsets.branch)).all();
}

export function findJobset(db: Db, org: OrgRecord, branch: string): JobsetRow | undefined {
  return db
    .select()
    .from(jobsets)
    .where(and(eq(jobsets.orgId, org.id), eq(jobsets.branch, branch)))
    .get();
}

export function getJobset(db: Db, org: OrgRecord, branch: string): JobsetRow {
  const row = findJobset(db, org, branch);
  if (!row) {
    throw new NotFoundError(
      `org "${org.name}" has no jobset "${branch}" (a branch becomes one at its first push); \`flox jobsets ${org.name}\` lists them`,
    );
  }
  return row;
}

/** Newest first. */
export function listEvaluations(db: Db, jobsetIds: number[], limit = 100): EvaluationRecord[] {
  if (jobsetIds.length === 0) return [];
  return withNames(db)
    .where(inArray(evaluations.jobsetId, jobsetIds))
    .orderBy(desc(evaluations.id))
    .limit(limit)
    .all()
    .map(named);
}

export function latestEvaluation(db: Db, jobsetId: number): EvaluationRecord | undefined {
  return listEvaluations(db, [jobsetId], 1)[0];
}

/** The newest evaluation of the jobset before `id` that succeeded: what `id` is compared with. */
export function previousSucceeded(db: Db, e: EvaluationRow): EvaluationRow | undefined {
  return db
    .select()
    .from(evaluations)
    .where(
      and(eq(evaluations.jobsetId, e.jobsetId), lt(evaluations.id, e.id), eq(evaluations.state, "succeeded")),
    )
    .orderBy(desc(evaluations.id))
    .limit(1)
    .get();
}

export function problemsOf(db: Db, evaluationId: number) {
  return db
    .select()
    .from(evalProblems)
    .where(eq(evalProblems.evaluationId, evaluationId))
    .orderBy(asc(evalProblems.id))
    .all();
}

export const finishedStates: readonly EvaluationState[] = ["succeeded", "failed", "skipped"];

export const presentEvaluation = (e: EvaluationRecord): Evaluation => ({
  id: e.id,
  org: e.org,
  branch: e.branch,
  pushId: e.pushId,
  commitSha: e.commitSha,
  state: e.state,
  error: e.error,
  counts: {
    jobs: e.jobCount,
    problems: e.problemCount,
    newBuilds: e.newBuilds,
    sharedBuilds: e.sharedBuilds,
    cachedBuilds: e.cachedBuilds,
    failedBuilds: e.failedBuilds,
  },
  createdAt: e.createdAt,
  startedAt: e.startedAt,
  finishedAt: e.finishedAt,
});
