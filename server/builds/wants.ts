// Who wants a shared build: the jobs (eval_jobs rows) pointing at it, and the relayed daemon connections that asked
// the farm for it (relay_wants). One org's cancel withdraws only its own wants; the build itself is cancelled only
// once nothing wants it any more, so one org cannot stop another's.
import { and, eq, inArray, isNotNull, isNull, type SQL, sql } from "drizzle-orm";
import type { BuildState } from "../../lib/api/builds.js";
import type { Db, Tx } from "../db/open.js";
import { first, rawRow, rawRows } from "../db/raw.js";
import { builds, evalJobs, evaluations, jobsets, relaySessions, relayWants } from "../db/tables.js";
import { inTransaction } from "../db/transaction.js";
import { NotFoundError } from "../errors.js";
import { cancelBuildIn } from "./queue.js";

type DbOrTx = Db | Tx;

/**
 * A job's state as its org sees it: `cancelled` once its org withdrew its want, whatever the shared build does
 * for others since; otherwise its build's state. Use it wherever a job (not a build) is judged.
 */
export function jobState(): SQL<BuildState> {
  return sql<BuildState>`(case when ${evalJobs.withdrawnAt} is not null then 'cancelled' else ${builds.state} end)`;
}

const unfinished: readonly BuildState[] = ["queued", "running"];

/** The jobs of these orgs' evaluations (every job: undefined) on these builds. */
function jobsOf(buildIds: readonly number[], orgIds: readonly number[] | undefined): SQL | undefined {
  return and(
    inArray(evalJobs.buildId, [...buildIds]),
    orgIds === undefined
      ? undefined
      : inArray(
          evalJobs.evaluationId,
          sql`(select ${evaluations.id} from ${evaluations} join ${jobsets} on ${jobsets.id} = ${evaluations.jobsetId} where ${inArray(jobsets.orgId, [...orgIds])})`,
        ),
  );
}

/**
 * Does anything still want this build: a job on it that was not withdrawn, or one on an unfinished build that
 * waits on it (directly or through others) of an org that did not withdraw from this build itself? The second
 * keeps a dependency going for an org whose own job is only the build on top; the exception lets an org cancel a
 * build its own other jobs wait on (they become dependency-failed, as a cancel always did).
 */
export async function isWanted(db: DbOrTx, buildId: number): Promise<boolean> {
  const row = await rawRow<{ wanted: number }>(
    db,
    sql`
    with recursive waiting(id) as (
      select cast(${buildId} as integer)
      union
      select d.build_id from build_deps d
        join waiting w on d.depends_on = w.id
        join ${builds} b on b.id = d.build_id
      where b.state in ('queued', 'running')
    ),
    job_orgs as (
      select j.build_id, j.withdrawn_at, s.org_id from ${evalJobs} j
        join ${evaluations} e on e.id = j.evaluation_id
        join ${jobsets} s on s.id = e.jobset_id
      where j.build_id in (select id from waiting)
      union all
      select w.build_id, w.withdrawn_at, r.org_id from ${relayWants} w
        join ${relaySessions} r on r.id = w.session_id
      where w.build_id in (select id from waiting)
    ),
    refused as (
      select org_id from job_orgs where build_id = ${buildId}
      group by org_id having max(case when withdrawn_at is null then 1 else 0 end) = 0
    )
    select case when exists(
      select 1 from job_orgs
      where withdrawn_at is null and (build_id = ${buildId} or org_id not in (select org_id from refused))
    ) then 1 else 0 end as wanted`,
  );
  return row?.wanted === 1;
}

export interface Withdrawal {
  /** The build's state afterwards: `cancelled` once the last want went, otherwise unchanged. */
  state: BuildState;
  /** How many jobs stopped wanting it now (0: the build had ended, or these orgs had withdrawn already). */
  withdrawn: number;
}

/**
 * Withdraws the want of `orgIds`' jobs (every job: undefined, an admin's cancel) on those of `buildIds` that are
 * queued or running, then cancels each build that nothing wants any more: its lease is revoked (the builder hears
 * it at its next heartbeat), what waits on it becomes dependency-failed, and the unfinished builds it waited on
 * are cancelled in turn when it was their last reason to run. A build that ended is left as it is.
 * Returns, per build, how many jobs stopped wanting it now and its state afterwards.
 */
export async function withdrawWants(
  tx: DbOrTx,
  buildIds: readonly number[],
  orgIds: readonly number[] | undefined,
): Promise<Map<number, Withdrawal>> {
  const out = new Map<number, Withdrawal>();
  const live: number[] = [];
  for (const id of new Set(buildIds)) {
    const build = await tx.select({ state: builds.state }).from(builds).where(eq(builds.id, id)).then(first);
    if (!build) throw new NotFoundError(`there is no build ${id}`);
    out.set(id, { state: build.state, withdrawn: 0 });
    if (unfinished.includes(build.state)) live.push(id);
  }
  const at = new Date().toISOString();
  for (const id of live) {
    const withdrawn = (
      await tx
        .update(evalJobs)
        .set({ withdrawnAt: at })
        .where(and(jobsOf([id], orgIds), isNull(evalJobs.withdrawnAt)))
        .returning({ id: evalJobs.id })
    ).length;
    const relayed = (
      await tx
        .update(relayWants)
        .set({ withdrawnAt: at })
        .where(
          and(
            eq(relayWants.buildId, id),
            isNull(relayWants.withdrawnAt),
            orgIds === undefined
              ? undefined
              : inArray(
                  relayWants.sessionId,
                  tx
                    .select({ id: relaySessions.id })
                    .from(relaySessions)
                    .where(inArray(relaySessions.orgId, [...orgIds])),
                ),
          ),
        )
        .returning({ id: relayWants.id })
    ).length;
    out.set(id, { state: out.get(id)?.state ?? "queued", withdrawn: withdrawn + relayed });
  }
  // Only after every mark: a build judged before its dependent's jobs were withdrawn would look wanted.
  for (const id of await cancelUnwanted(tx, live)) {
    const entry = out.get(id);
    if (entry) entry.state = "cancelled";
  }
  return out;
}

/**
 * Cancels each of these builds that nothing wants any more, and then, in turn, the unfinished builds it waited on
 * that were wanted only through it. Returns the builds cancelled.
 */
async function cancelUnwanted(tx: DbOrTx, ids: readonly number[]): Promise<number[]> {
  const cancelled: number[] = [];
  const work = [...ids];
  for (let id = work.pop(); id !== undefined; id = work.pop()) {
    if ((await isWanted(tx, id)) || (await cancelBuildIn(tx, id)) !== "cancelled") continue;
    cancelled.push(id);
    for (const dep of await rawRows<{ id: number }>(
      tx,
      sql`select d.depends_on as id from build_deps d join ${builds} b on b.id = d.depends_on
          where d.build_id = ${id} and b.state in ('queued', 'running')`,
    )) {
      work.push(dep.id);
    }
  }
  return cancelled;
}

/**
 * A relayed connection ended because its client hung up: it stops wanting its builds, and each one nothing else
 * wants (another connection, a job) is cancelled. Returns the builds cancelled.
 */
export async function withdrawSessionWants(db: Db, sessionId: number): Promise<number[]> {
  return inTransaction(db, async (tx) => {
    const live = (
      await tx
        .update(relayWants)
        .set({ withdrawnAt: new Date().toISOString() })
        .where(
          and(
            eq(relayWants.sessionId, sessionId),
            isNull(relayWants.withdrawnAt),
            inArray(
              relayWants.buildId,
              tx
                .select({ id: builds.id })
                .from(builds)
                .where(inArray(builds.state, [...unfinished])),
            ),
          ),
        )
        .returning({ buildId: relayWants.buildId })
    ).map((r) => r.buildId);
    return cancelUnwanted(tx, live);
  });
}

/** One build's `withdrawWants` in a transaction of its own, so two orgs cancelling at once cannot both miss. */
export async function cancelWant(
  db: Db,
  buildId: number,
  orgIds: readonly number[] | undefined,
): Promise<Withdrawal> {
  return inTransaction(db, async (tx) => {
    const one = (await withdrawWants(tx, [buildId], orgIds)).get(buildId);
    if (!one) throw new NotFoundError(`there is no build ${buildId}`);
    return one;
  });
}

/** Makes `orgIds`' withdrawn jobs on these builds want them again (a restart by that org). Returns how many. */
export async function reinstateWant(
  db: DbOrTx,
  buildIds: readonly number[],
  orgIds: readonly number[] | undefined,
): Promise<number> {
  if (buildIds.length === 0) return 0;
  return (
    await db
      .update(evalJobs)
      .set({ withdrawnAt: null })
      .where(and(jobsOf(buildIds, orgIds), isNotNull(evalJobs.withdrawnAt)))
      .returning({ id: evalJobs.id })
  ).length;
}
