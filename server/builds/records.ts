// Builds as people see them: listed, shown, cancelled, restarted and bumped through the API. The queue's own
// moves (claim, lease, result) are in queue.ts; this module only reads builds and changes them on request.
import { and, desc, eq, inArray, type SQL, sql } from "drizzle-orm";
import type { Builder, BuildQueue } from "../../lib/api/builders.js";
import type { Build, BuildDetail, BuildState } from "../../lib/api/builds.js";
import type { Db, Tx } from "../db/open.js";
import {
  builders,
  buildLeases,
  buildResults,
  builds,
  evalJobs,
  evaluations,
  jobsets,
  orgs,
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

/** Ids of the orgs whose evaluations have a job on this build: who may see and steer it. */
export function orgIdsOfBuild(db: Db, buildId: number): number[] {
  return db
    .selectDistinct({ id: jobsets.orgId })
    .from(evalJobs)
    .innerJoin(evaluations, eq(evaluations.id, evalJobs.evaluationId))
    .innerJoin(jobsets, eq(jobsets.id, evaluations.jobsetId))
    .where(eq(evalJobs.buildId, buildId))
    .all()
    .map((r) => r.id);
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
          .where(inArray(jobsets.orgId, filter.orgIds)),
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

/** Where each build is wanted, as the asker may see it: its readable orgs' jobs, and a count of the others. */
interface JobsOfBuild {
  jobs: Build["jobs"];
  otherJobs: number;
}

/**
 * The newest job per org, branch and attr of each build (at most 10 shown), each in its own state (`cancelled`
 * once its org withdrew). Jobs of orgs outside `visibleOrgIds` (undefined: all are visible) are only counted:
 * a shared build must not tell one org another's names.
 */
function jobsOfBuilds(
  db: Db,
  ids: number[],
  visibleOrgIds: readonly number[] | undefined,
): Map<number, JobsOfBuild> {
  const out = new Map<number, JobsOfBuild>();
  if (ids.length === 0) return out;
  const rows = db
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
    .where(inArray(evalJobs.buildId, ids))
    .orderBy(desc(evalJobs.evaluationId))
    .all();
  const seen = new Set<string>();
  for (const r of rows) {
    const entry = out.get(r.buildId) ?? { jobs: [], otherJobs: 0 };
    out.set(r.buildId, entry);
    const key = JSON.stringify([r.buildId, r.orgId, r.branch, r.attr]);
    if (seen.has(key)) continue;
    seen.add(key);
    if (visibleOrgIds && !visibleOrgIds.includes(r.orgId)) entry.otherJobs++;
    else if (entry.jobs.length < 10)
      entry.jobs.push({
        org: r.org,
        branch: r.branch,
        attr: r.attr,
        evaluation: r.evaluation,
        state: r.state,
      });
  }
  return out;
}

/**
 * The API's view of builds: with where they are wanted, who runs (or ran) them, and why they ended so.
 * `visibleOrgIds`: the orgs whose jobs the asker may see (readableOrgIds; undefined = all, an admin).
 */
export function presentBuilds(
  db: Db,
  rows: readonly BuildRow[],
  visibleOrgIds: readonly number[] | undefined,
): Build[] {
  const ids = rows.map((r) => r.id);
  const jobs = jobsOfBuilds(db, ids, visibleOrgIds);
  const leases = new Map(
    ids.length
      ? db
          .select()
          .from(buildLeases)
          .where(inArray(buildLeases.buildId, ids))
          .all()
          .map((l) => [l.buildId, l] as const)
      : [],
  );
  const results = new Map(
    ids.length
      ? db
          .select()
          .from(buildResults)
          .where(inArray(buildResults.buildId, ids))
          .all()
          .map((r) => [r.buildId, r] as const)
      : [],
  );
  return rows.map((b) => ({
    id: b.id,
    drvPath: b.drvPath,
    system: b.system,
    requiredFeatures: b.requiredFeatures,
    outputs: b.outputs,
    state: b.state,
    priority: b.priority,
    attempts: b.attempts,
    builder: leases.get(b.id)?.builder ?? results.get(b.id)?.builder ?? null,
    message: results.get(b.id)?.message ?? null,
    jobs: jobs.get(b.id)?.jobs ?? [],
    otherJobs: jobs.get(b.id)?.otherJobs ?? 0,
    createdAt: b.createdAt,
    startedAt: b.startedAt,
    finishedAt: b.finishedAt,
  }));
}

/** One build with the builds it waits for and the ones waiting for it. */
export function presentBuildDetail(
  db: Db,
  row: BuildRow,
  visibleOrgIds: readonly number[] | undefined,
): BuildDetail {
  const [build] = presentBuilds(db, [row], visibleOrgIds);
  if (!build) throw new Error("presentBuilds lost a row");
  const dependsOn = db.all<{ id: number; state: BuildState }>(
    sql`select b.id, b.state from build_deps d join ${builds} b on b.id = d.depends_on where d.build_id = ${row.id} order by b.id`,
  );
  const dependents = db.all<{ id: number; state: BuildState }>(
    sql`select b.id, b.state from build_deps d join ${builds} b on b.id = d.build_id where d.depends_on = ${row.id} order by b.id`,
  );
  return { ...build, dependsOn, dependents };
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

/** A builder counts as connected while it called within this long. */
const CONNECTED_MS = 60_000;

/**
 * Every builder, with the builds it runs now. `visible` says which builds the asker may see (a build is its orgs'
 * business): the others are only counted, in `otherRunning`.
 */
export function listBuilders(
  db: Db,
  visible: (buildId: number) => boolean = () => true,
  now = Date.now(),
): Builder[] {
  const leases = db
    .select({ lease: buildLeases, drvPath: builds.drvPath })
    .from(buildLeases)
    .innerJoin(builds, eq(builds.id, buildLeases.buildId))
    .where(sql`${buildLeases.expiresAt} > ${now}`)
    .all();
  return db
    .select()
    .from(builders)
    .orderBy(builders.name)
    .all()
    .map((b) => {
      const mine = leases.filter((l) => l.lease.builder === b.name);
      const running = mine
        .filter((l) => visible(l.lease.buildId))
        .map((l) => ({
          build: l.lease.buildId,
          drvPath: l.drvPath,
          attempt: l.lease.attempt,
          since: l.lease.claimedAt,
        }));
      return {
        name: b.name,
        systems: b.systems,
        features: b.features,
        maxJobs: b.maxJobs,
        lastSeen: b.lastSeen,
        connected: mine.length > 0 || now - Date.parse(b.lastSeen) < CONNECTED_MS,
        running,
        otherRunning: mine.length - running.length,
      };
    });
}

/** How many builds wait in the queue and how many run, over every org (the builders are shared). */
export function queueFigures(db: Db): BuildQueue {
  const rows = db
    .select({ state: builds.state, n: sql<number>`count(*)` })
    .from(builds)
    .where(inArray(builds.state, ["queued", "running"]))
    .groupBy(builds.state)
    .all();
  const n = (state: string) => rows.find((r) => r.state === state)?.n ?? 0;
  return { queued: n("queued"), running: n("running") };
}
