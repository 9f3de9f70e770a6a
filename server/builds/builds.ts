// Builds as people see them, the data side: listed, shown, cancelled, restarted and bumped on request. The queue's
// own moves (claim, lease, result) are in queue.ts; the API's shapes are made in present.ts.
import { and, desc, eq, inArray, max, ne, type SQL, sql } from "drizzle-orm";
import type { BuildState } from "../../lib/api/builds.js";
import type { Db, Tx } from "../db/open.js";
import { first, rawRows } from "../db/raw.js";
import {
  buildLeases,
  buildResults,
  builds,
  evalJobs,
  evaluations,
  jobsets,
  orgs,
  relaySessions,
  relayWants,
} from "../db/tables.js";
import { inTransaction } from "../db/transaction.js";
import { ConflictError, NotFoundError } from "../errors.js";
import { jobState, reinstateWant, withdrawWants } from "./wants.js";

export type BuildRow = typeof builds.$inferSelect;

/** Ended without a verdict of success: a restart puts these back in the queue. */
export const restartableStates: readonly BuildState[] = [
  "failed",
  "dependency-failed",
  "cancelled",
  "timed-out",
  "aborted",
];
export const unfinishedStates: readonly BuildState[] = ["queued", "running"];

/** The answer to a build that does not exist, and to one the asker's orgs do not want: they must look the same. */
export const noSuchBuild = (id: number) => `there is no build ${id}; list them with: flox builds`;

export async function getBuild(db: Db, id: number): Promise<BuildRow> {
  const row = await db.select().from(builds).where(eq(builds.id, id)).then(first);
  if (!row) throw new NotFoundError(noSuchBuild(id));
  return row;
}

/** The newest build of a derivation (`/nix/store/<hash>-<name>.drv`), or undefined. */
export async function findBuildByDrv(db: Db, drvPath: string): Promise<BuildRow | undefined> {
  return await db.select().from(builds).where(eq(builds.drvPath, drvPath)).then(first);
}

/** Ids of the orgs whose evaluations have a job on this build, or whose relayed connections asked for it. */
export async function orgIdsOfBuild(db: Db, buildId: number): Promise<number[]> {
  const ids = (
    await db
      .selectDistinct({ id: jobsets.orgId })
      .from(evalJobs)
      .innerJoin(evaluations, eq(evaluations.id, evalJobs.evaluationId))
      .innerJoin(jobsets, eq(jobsets.id, evaluations.jobsetId))
      .where(eq(evalJobs.buildId, buildId))
  ).map((r) => r.id);
  for (const r of await db
    .selectDistinct({ id: relaySessions.orgId })
    .from(relayWants)
    .innerJoin(relaySessions, eq(relaySessions.id, relayWants.sessionId))
    .where(eq(relayWants.buildId, buildId))) {
    if (!ids.includes(r.id)) ids.push(r.id);
  }
  return ids;
}

/** One row per relayed connection that asked for one of these builds: the relay's wants, shown like jobs. */
export async function relayRowsOfBuilds(db: Db, ids: readonly number[]) {
  if (ids.length === 0) return [];
  return await db
    .select({
      buildId: relayWants.buildId,
      session: relaySessions.id,
      orgId: relaySessions.orgId,
      org: orgs.name,
      actor: relaySessions.actor,
      host: relaySessions.host,
      withdrawnAt: relayWants.withdrawnAt,
    })
    .from(relayWants)
    .innerJoin(relaySessions, eq(relaySessions.id, relayWants.sessionId))
    .innerJoin(orgs, eq(orgs.id, relaySessions.orgId))
    .where(inArray(relayWants.buildId, [...ids]))
    .orderBy(desc(relayWants.id));
}

export interface BuildFilter {
  state?: BuildState | undefined;
  /** Only builds that are jobs of these orgs' evaluations; undefined = every build (admin). */
  orgIds?: number[] | undefined;
  limit: number;
}

export async function listBuilds(db: Db, filter: BuildFilter): Promise<BuildRow[]> {
  const where: SQL[] = [];
  if (filter.state) where.push(eq(builds.state, filter.state));
  if (filter.orgIds) {
    if (filter.orgIds.length === 0) return [];
    where.push(
      inArray(
        builds.id,
        db
          .select({ id: evalJobs.buildId })
          .from(evalJobs)
          .innerJoin(evaluations, eq(evaluations.id, evalJobs.evaluationId))
          .innerJoin(jobsets, eq(jobsets.id, evaluations.jobsetId))
          .where(inArray(jobsets.orgId, filter.orgIds))
          .union(
            db
              .select({ id: relayWants.buildId })
              .from(relayWants)
              .innerJoin(relaySessions, eq(relaySessions.id, relayWants.sessionId))
              .where(inArray(relaySessions.orgId, filter.orgIds)),
          ),
      ),
    );
  }
  return await db
    .select()
    .from(builds)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(builds.id))
    .limit(filter.limit);
}

/** One row per job wanting one of these builds, newest evaluation first: what presentBuilds names or counts. */
export async function jobRowsOfBuilds(db: Db, ids: readonly number[]) {
  if (ids.length === 0) return [];
  return await db
    .select({
      buildId: evalJobs.buildId,
      attr: evalJobs.attr,
      evaluation: evalJobs.evaluationId,
      state: jobState(),
      orgId: jobsets.orgId,
      org: orgs.name,
      branch: jobsets.branch,
    })
    .from(evalJobs)
    .innerJoin(builds, eq(builds.id, evalJobs.buildId))
    .innerJoin(evaluations, eq(evaluations.id, evalJobs.evaluationId))
    .innerJoin(jobsets, eq(jobsets.id, evaluations.jobsetId))
    .innerJoin(orgs, eq(orgs.id, jobsets.orgId))
    .where(inArray(evalJobs.buildId, [...ids]))
    .orderBy(desc(evalJobs.evaluationId));
}

/** The current lease of each of these builds that has one: who runs it. */
export async function leasesOfBuilds(
  db: Db,
  ids: readonly number[],
): Promise<Map<number, typeof buildLeases.$inferSelect>> {
  if (ids.length === 0) return new Map();
  return new Map(
    (
      await db
        .select()
        .from(buildLeases)
        .where(inArray(buildLeases.buildId, [...ids]))
    ).map((l) => [l.buildId, l] as const),
  );
}

/** The result of each of these builds that has one: who finished it, and why it ended so. */
export async function resultsOfBuilds(
  db: Db,
  ids: readonly number[],
): Promise<Map<number, typeof buildResults.$inferSelect>> {
  if (ids.length === 0) return new Map();
  return new Map(
    (
      await db
        .select()
        .from(buildResults)
        .where(inArray(buildResults.buildId, [...ids]))
    ).map((r) => [r.buildId, r] as const),
  );
}

/** The builds this one waits for, and the ones waiting for it. */
export async function dependenciesOfBuild(db: Db, id: number) {
  const dependsOn = await rawRows<{ id: number; state: BuildState }>(
    db,
    sql`select b.id, b.state from build_deps d join ${builds} b on b.id = d.depends_on where d.build_id = ${id} order by b.id`,
  );
  const dependents = await rawRows<{ id: number; state: BuildState }>(
    db,
    sql`select b.id, b.state from build_deps d join ${builds} b on b.id = d.build_id where d.depends_on = ${id} order by b.id`,
  );
  return { dependsOn, dependents };
}

/**
 * Puts a build that ended without success back in the queue with fresh attempts, and with it every build that
 * was dependency-failed because of it (transitively): they had no verdict of their own. The restarting orgs
 * (`orgIds`; undefined = every org, an admin) want it again if they had withdrawn: that alone is what a restart
 * of a build others keep running does. Returns the ids requeued (or reinstated).
 */
export async function restartBuild(
  db: Db,
  id: number,
  orgIds: readonly number[] | undefined,
): Promise<number[]> {
  return inTransaction(db, async (tx) => {
    const build = await tx.select({ state: builds.state }).from(builds).where(eq(builds.id, id)).then(first);
    if (!build) throw new NotFoundError(`there is no build ${id}`);
    if (!restartableStates.includes(build.state)) {
      if (unfinishedStates.includes(build.state) && (await reinstateWant(tx, [id], orgIds)) > 0) return [id];
      throw new ConflictError(
        `build ${id} is ${build.state}; only a build that ended without success (${restartableStates.join(", ")}) can be restarted`,
      );
    }
    const dependents = await rawRows<{ id: number }>(
      tx,
      sql`
        with recursive dependents(id) as (
          select build_id from build_deps where depends_on = ${id}
          union
          select d.build_id from build_deps d join dependents p on d.depends_on = p.id
        )
        select b.id from ${builds} b where b.id in (select id from dependents) and b.state = 'dependency-failed'`,
    );
    const ids = [id, ...dependents.map((d) => d.id)];
    await tx
      .update(builds)
      .set({ state: "queued", attempts: 0, startedAt: null, finishedAt: null })
      .where(inArray(builds.id, ids));
    await tx.delete(buildResults).where(inArray(buildResults.buildId, ids));
    await reinstateWant(tx, [id], orgIds);
    return ids;
  });
}

/** Sets a queued build's priority; without one, it goes ahead of every build queued now. */
export async function bumpBuild(db: Db, id: number, priority?: number): Promise<number> {
  return inTransaction(db, async (tx) => {
    const build = await tx.select({ state: builds.state }).from(builds).where(eq(builds.id, id)).then(first);
    if (!build) throw new NotFoundError(`there is no build ${id}`);
    if (build.state !== "queued") {
      throw new ConflictError(`build ${id} is ${build.state}; only a queued build can be bumped`);
    }
    const [top] = await tx
      .select({ p: max(builds.priority) })
      .from(builds)
      .where(and(eq(builds.state, "queued"), ne(builds.id, id)));
    const value = priority ?? Math.max(0, top?.p ?? 0) + 1;
    await tx.update(builds).set({ priority: value }).where(eq(builds.id, id));
    return value;
  });
}

/** The build ids of an evaluation's jobs. */
export async function buildIdsOfEvaluation(db: Db | Tx, evaluationId: number): Promise<number[]> {
  return (
    await db
      .selectDistinct({ id: evalJobs.buildId })
      .from(evalJobs)
      .where(eq(evalJobs.evaluationId, evaluationId))
  ).map((r) => r.id);
}

/**
 * Withdraws the evaluation's org's want of every queued or running build of the evaluation; a build nobody else
 * wants is cancelled, a shared one keeps going for the others. Returns the builds this org stopped wanting.
 */
export async function cancelEvaluationBuilds(db: Db, evaluationId: number, orgId: number): Promise<number[]> {
  const result = await inTransaction(db, async (tx) =>
    withdrawWants(tx, await buildIdsOfEvaluation(tx, evaluationId), [orgId]),
  );
  return [...result].filter(([, w]) => w.withdrawn > 0).map(([id]) => id);
}

/**
 * Restarts the builds of an evaluation that ended without success, and makes the org want again the ones it
 * had withdrawn from while others kept them going (or built them meanwhile).
 */
export async function restartEvaluationBuilds(
  db: Db,
  evaluationId: number,
  orgId: number,
): Promise<number[]> {
  const restarted = new Set<number>();
  for (const id of await buildIdsOfEvaluation(db, evaluationId)) {
    if (restarted.has(id)) continue;
    const row = await db.select({ state: builds.state }).from(builds).where(eq(builds.id, id)).then(first);
    if (row && restartableStates.includes(row.state)) {
      for (const r of await restartBuild(db, id, [orgId])) restarted.add(r);
    } else if ((await reinstateWant(db, [id], [orgId])) > 0) {
      restarted.add(id);
    }
  }
  return [...restarted].sort((a, b) => a - b);
}
