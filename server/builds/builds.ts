// Builds as people see them, the data side: listed, shown, cancelled, restarted and bumped on request. The queue's
// own moves (claim, lease, result) are in queue.ts; the API's shapes are made in present.ts.
import { and, desc, eq, inArray, type SQL, sql } from "drizzle-orm";
import type { BuildState } from "../../lib/api/builds.js";
import type { Db, Tx } from "../db/open.js";
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
} from "../db/schema.js";
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

export function getBuild(db: Db, id: number): BuildRow {
  const row = db.select().from(builds).where(eq(builds.id, id)).get();
  if (!row) throw new NotFoundError(noSuchBuild(id));
  return row;
}

/** The newest build of a derivation (`/nix/store/<hash>-<name>.drv`), or undefined. */
export function findBuildByDrv(db: Db, drvPath: string): BuildRow | undefined {
  return db.select().from(builds).where(eq(builds.drvPath, drvPath)).get();
}

/** Ids of the orgs whose evaluations have a job on this build, or whose relayed connections asked for it. */
export function orgIdsOfBuild(db: Db, buildId: number): number[] {
  const ids = db
    .selectDistinct({ id: jobsets.orgId })
    .from(evalJobs)
    .innerJoin(evaluations, eq(evaluations.id, evalJobs.evaluationId))
    .innerJoin(jobsets, eq(jobsets.id, evaluations.jobsetId))
    .where(eq(evalJobs.buildId, buildId))
    .all()
    .map((r) => r.id);
  for (const r of db
    .selectDistinct({ id: relaySessions.orgId })
    .from(relayWants)
    .innerJoin(relaySessions, eq(relaySessions.id, relayWants.sessionId))
    .where(eq(relayWants.buildId, buildId))
    .all()) {
    if (!ids.includes(r.id)) ids.push(r.id);
  }
  return ids;
}

/** One row per relayed connection that asked for one of these builds: the relay's wants, shown like jobs. */
export function relayRowsOfBuilds(db: Db, ids: readonly number[]) {
  if (ids.length === 0) return [];
  return db
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
    .orderBy(desc(relayWants.id))
    .all();
}

export interface BuildFilter {
  state?: BuildState | undefined;
  /** Only builds that are jobs of these orgs' evaluations; undefined = every build (admin). */
  orgIds?: number[] | undefined;
  limit: number;
}

export function listBuilds(db: Db, filter: BuildFilter): BuildRow[] {
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
  return db
    .select()
    .from(builds)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(builds.id))
    .limit(filter.limit)
    .all();
}

/** One row per job wanting one of these builds, newest evaluation first: what presentBuilds names or counts. */
export function jobRowsOfBuilds(db: Db, ids: readonly number[]) {
  if (ids.length === 0) return [];
  return db
    .select({
      buildId: evalJobs.buildId,
      attr: evalJobs.attr,
      evaluation: evalJobs.evaluationId,
      state: jobState,
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
    .orderBy(desc(evalJobs.evaluationId))
    .all();
}

/** The current lease of each of these builds that has one: who runs it. */
export function leasesOfBuilds(db: Db, ids: readonly number[]): Map<number, typeof buildLeases.$inferSelect> {
  if (ids.length === 0) return new Map();
  return new Map(
    db
      .select()
      .from(buildLeases)
      .where(inArray(buildLeases.buildId, [...ids]))
      .all()
      .map((l) => [l.buildId, l] as const),
  );
}

/** The result of each of these builds that has one: who finished it, and why it ended so. */
export function resultsOfBuilds(
  db: Db,
  ids: readonly number[],
): Map<number, typeof buildResults.$inferSelect> {
  if (ids.length === 0) return new Map();
  return new Map(
    db
      .select()
      .from(buildResults)
      .where(inArray(buildResults.buildId, [...ids]))
      .all()
      .map((r) => [r.buildId, r] as const),
  );
}

/** The builds this one waits for, and the ones waiting for it. */
export function dependenciesOfBuild(db: Db, id: number) {
  const dependsOn = db.all<{ id: number; state: BuildState }>(
    sql`select b.id, b.state from build_deps d join ${builds} b on b.id = d.depends_on where d.build_id = ${id} order by b.id`,
  );
  const dependents = db.all<{ id: number; state: BuildState }>(
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
export function restartBuild(db: Db, id: number, orgIds: readonly number[] | undefined): number[] {
  return db.transaction(
    (tx) => {
      const build = tx.select({ state: builds.state }).from(builds).where(eq(builds.id, id)).get();
      if (!build) throw new NotFoundError(`there is no build ${id}`);
      if (!restartableStates.includes(build.state)) {
        if (unfinishedStates.includes(build.state) && reinstateWant(tx, [id], orgIds) > 0) return [id];
        throw new ConflictError(
          `build ${id} is ${build.state}; only a build that ended without success (${restartableStates.join(", ")}) can be restarted`,
        );
      }
      const dependents = tx.all<{ id: number }>(sql`
        with recursive dependents(id) as (
          select build_id from build_deps where depends_on = ${id}
          union
          select d.build_id from build_deps d join dependents p on d.depends_on = p.id
        )
        select b.id from ${builds} b where b.id in (select id from dependents) and b.state = 'dependency-failed'`);
      const ids = [id, ...dependents.map((d) => d.id)];
      tx.update(builds)
        .set({ state: "queued", attempts: 0, startedAt: null, finishedAt: null })
        .where(inArray(builds.id, ids))
        .run();
      tx.delete(buildResults).where(inArray(buildResults.buildId, ids)).run();
      reinstateWant(tx, [id], orgIds);
      return ids;
    },
    { behavior: "immediate" },
  );
}

/** Sets a queued build's priority; without one, it goes ahead of every build queued now. */
export function bumpBuild(db: Db, id: number, priority?: number): number {
  return db.transaction(
    (tx) => {
      const build = tx.select({ state: builds.state }).from(builds).where(eq(builds.id, id)).get();
      if (!build) throw new NotFoundError(`there is no build ${id}`);
      if (build.state !== "queued") {
        throw new ConflictError(`build ${id} is ${build.state}; only a queued build can be bumped`);
      }
      const top = tx.get<{ p: number | null }>(
        sql`select max(priority) as p from ${builds} where state = 'queued' and id != ${id}`,
      );
      const value = priority ?? Math.max(0, top?.p ?? 0) + 1;
      tx.update(builds).set({ priority: value }).where(eq(builds.id, id)).run();
      return value;
    },
    { behavior: "immediate" },
  );
}

/** The build ids of an evaluation's jobs. */
export function buildIdsOfEvaluation(db: Db | Tx, evaluationId: number): number[] {
  return db
    .selectDistinct({ id: evalJobs.buildId })
    .from(evalJobs)
    .where(eq(evalJobs.evaluationId, evaluationId))
    .all()
    .map((r) => r.id);
}

/**
 * Withdraws the evaluation's org's want of every queued or running build of the evaluation; a build nobody else
 * wants is cancelled, a shared one keeps going for the others. Returns the builds this org stopped wanting.
 */
export function cancelEvaluationBuilds(db: Db, evaluationId: number, orgId: number): number[] {
  const result = db.transaction((tx) => withdrawWants(tx, buildIdsOfEvaluation(tx, evaluationId), [orgId]), {
    behavior: "immediate",
  });
  return [...result].filter(([, w]) => w.withdrawn > 0).map(([id]) => id);
}

/**
 * Restarts the builds of an evaluation that ended without success, and makes the org want again the ones it
 * had withdrawn from while others kept them going (or built them meanwhile).
 */
export function restartEvaluationBuilds(db: Db, evaluationId: number, orgId: number): number[] {
  const restarted = new Set<number>();
  for (const id of buildIdsOfEvaluation(db, evaluationId)) {
    if (restarted.has(id)) continue;
    const row = db.select({ state: builds.state }).from(builds).where(eq(builds.id, id)).get();
    if (row && restartableStates.includes(row.state)) {
      for (const r of restartBuild(db, id, [orgId])) restarted.add(r);
    } else if (reinstateWant(db, [id], [orgId]) > 0) {
      restarted.add(id);
    }
  }
  return [...restarted].sort((a, b) => a - b);
}
