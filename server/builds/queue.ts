// The build queue: claiming with a lease, heartbeats, results, cascades and the lease sweeper. Every change
// is one SQLite transaction, so a server killed at any moment restarts with each build exactly once somewhere:
// queued, leased to one builder (whose lease the sweeper takes back if it never calls again), or finished.
import { randomBytes } from "node:crypto";
import { and, count, eq, gt, inArray, lte, type SQL, sql } from "drizzle-orm";
import type { BuildState } from "../../lib/api/builds.js";
import type { Db, Tx } from "../db/open.js";
import { first, rawRows } from "../db/raw.js";
import { builders, buildLeases, buildResults, builds, cachePaths, dialect, nowSql } from "../db/tables.js";
import { inTransaction } from "../db/transaction.js";
import { ConflictError, NotFoundError } from "../errors.js";

/** Infrastructure failures (lease lost, upload failed) are retried until a build has had this many attempts. */
export const MAX_ATTEMPTS = 3;
export const DEFAULT_LEASE_SECONDS = 15;

type DbOrTx = Db | Tx;

export interface ClaimRequest {
  builderName: string;
  systems: readonly string[];
  features: readonly string[];
  maxJobs: number;
}

export interface ClaimedBuild {
  id: number;
  drvPath: string;
  system: string;
  requiredFeatures: string[];
  outputs: Record<string, string>;
  timeoutSeconds: number;
  maxSilentSeconds: number;
  attempt: number;
  leaseId: string;
  leaseExpiresAt: number;
}

/** The id of the build `claimBuild` takes next, as a subquery in its dialect's terms. */
function claimableBuild(req: ClaimRequest): SQL {
  const ready = sql`not exists (
    select 1 from build_deps d join ${builds} x on x.id = d.depends_on
    where d.build_id = b.id and x.state not in ('succeeded', 'cached'))`;
  if (dialect === "postgres") {
    return sql`(select b.id from ${builds} b
      where b.state = 'queued'
        and b.system in (select jsonb_array_elements_text(${JSON.stringify(req.systems)}::jsonb))
        and b.required_features <@ ${JSON.stringify(req.features)}::jsonb
        and ${ready}
      order by b.priority desc, b.id asc
      limit 1
      for update of b skip locked)`;
  }
  return sql`(select b.id from ${builds} b
    where b.state = 'queued'
      and b.system in (select value from json_each(${JSON.stringify(req.systems)}))
      and not exists (
        select 1 from json_each(b.required_features) f
        where f.value not in (select value from json_each(${JSON.stringify(req.features)})))
      and ${ready}
    order by b.priority desc, b.id asc
    limit 1)`;
}

/**
 * The highest-priority queued build this builder can run (its system among `systems`, every required feature
 * among `features`) whose dependencies all succeeded or were cached, marked running under a fresh lease.
 * Null when there is none, or when the builder already holds `maxJobs` live leases.
 */
export function claimBuild(
  db: Db,
  req: ClaimRequest,
  leaseSeconds = DEFAULT_LEASE_SECONDS,
  now = Date.now(),
): Promise<ClaimedBuild | null> {
  return inTransaction(db, async (tx) => {
    await tx
      .insert(builders)
      .values({
        name: req.builderName,
        systems: [...req.systems],
        features: [...req.features],
        maxJobs: req.maxJobs,
      })
      .onConflictDoUpdate({
        target: builders.name,
        set: {
          systems: [...req.systems],
          features: [...req.features],
          maxJobs: req.maxJobs,
          lastSeen: nowSql,
        },
      });
    const [held] = await tx
      .select({ n: count() })
      .from(buildLeases)
      .where(and(eq(buildLeases.builder, req.builderName), gt(buildLeases.expiresAt, now)));
    if ((held?.n ?? 0) >= req.maxJobs) return null;
    // One statement picks and takes the build; on PostgreSQL, claims running together skip each other's rows.
    const row = await tx
      .update(builds)
      .set({ state: "running", attempts: sql`${builds.attempts} + 1`, startedAt: nowSql, finishedAt: null })
      .where(and(eq(builds.id, claimableBuild(req)), eq(builds.state, "queued")))
      .returning()
      .then(first);
    if (!row) return null;
    const leaseId = randomBytes(24).toString("base64url");
    const expiresAt = now + leaseSeconds * 1000;
    await tx.delete(buildLeases).where(eq(buildLeases.buildId, row.id));
    await tx
      .insert(buildLeases)
      .values({ buildId: row.id, leaseId, builder: req.builderName, attempt: row.attempts, expiresAt });
    return {
      id: row.id,
      drvPath: row.drvPath,
      system: row.system,
      requiredFeatures: row.requiredFeatures,
      outputs: row.outputs,
      timeoutSeconds: row.timeoutSeconds,
      maxSilentSeconds: row.maxSilentSeconds,
      attempt: row.attempts,
      leaseId,
      leaseExpiresAt: expiresAt,
    };
  });
}

/**
 * A claim the server could not hand out after all (the object store did not answer while it got the build ready):
 * the build goes back to the queue as if it had never been claimed, its attempt not counted, so an outage of the
 * store costs builders a wait, never a build.
 */
export function giveBackClaim(db: Db, buildId: number, leaseId: string): Promise<void> {
  return inTransaction(db, async (tx) => {
    const lease = await tx.select().from(buildLeases).where(eq(buildLeases.buildId, buildId)).then(first);
    if (lease?.leaseId !== leaseId) return;
    await tx.delete(buildLeases).where(eq(buildLeases.buildId, buildId));
    await tx
      .update(builds)
      .set({ state: "queued", startedAt: null, attempts: sql`${builds.attempts} - 1` })
      .where(and(eq(builds.id, buildId), eq(builds.state, "running")));
  });
}

export type LeaseRow = typeof buildLeases.$inferSelect;

/** The lease `leaseId` of build `buildId`, or a ConflictError telling the builder it lost it. */
export async function requireLease(db: DbOrTx, buildId: number, leaseId: string): Promise<LeaseRow> {
  const lease = await db.select().from(buildLeases).where(eq(buildLeases.buildId, buildId)).then(first);
  if (!lease || lease.leaseId !== leaseId) {
    const exists = await db.select({ id: builds.id }).from(builds).where(eq(builds.id, buildId)).then(first);
    if (!exists) throw new NotFoundError(`there is no build ${buildId}`);
    throw new ConflictError(
      `the lease on build ${buildId} is not held any more (it expired and the build was requeued, or it finished); stop working on it`,
    );
  }
  return lease;
}

export interface HeartbeatAnswer {
  /** The build was cancelled: stop it; the lease is gone. */
  cancel: boolean;
  leaseExpiresAt: number;
}

/** Extends the lease; answers cancel when the build is no longer running (cancelled meanwhile). */
export function heartbeat(
  db: Db,
  buildId: number,
  leaseId: string,
  leaseSeconds = DEFAULT_LEASE_SECONDS,
  now = Date.now(),
): Promise<HeartbeatAnswer> {
  return inTransaction(db, async (tx) => {
    const lease = await requireLease(tx, buildId, leaseId);
    const build = await tx
      .select({ state: builds.state })
      .from(builds)
      .where(eq(builds.id, buildId))
      .then(first);
    if (build?.state !== "running") {
      await tx.delete(buildLeases).where(eq(buildLeases.buildId, buildId));
      return { cancel: true, leaseExpiresAt: lease.expiresAt };
    }
    const expiresAt = now + leaseSeconds * 1000;
    await tx.update(buildLeases).set({ expiresAt }).where(eq(buildLeases.buildId, buildId));
    await tx.update(builders).set({ lastSeen: nowSql }).where(eq(builders.name, lease.builder));
    return { cancel: false, leaseExpiresAt: expiresAt };
  });
}

/** Every queued build that waits, directly or through others, on `buildId` becomes dependency-failed. */
export async function cascadeDependencyFailed(tx: DbOrTx, buildId: number): Promise<number> {
  const failed = await rawRows<{ id: number }>(
    tx,
    sql`
    with recursive dependents(id) as (
      select build_id from build_deps where depends_on = ${buildId}
      union
      select d.build_id from build_deps d join dependents p on d.depends_on = p.id
    )
    update ${builds} set state = 'dependency-failed', finished_at = ${nowSql}
    where id in (select id from dependents) and state = 'queued'
    returning id`,
  );
  return failed.length;
}

async function allOutputsStored(tx: DbOrTx, outputs: Record<string, string>): Promise<boolean> {
  const hashes = Object.values(outputs).map((p) => /^\/nix\/store\/([0-9a-df-np-sv-z]{32})-/.exec(p)?.[1]);
  if (hashes.length === 0 || hashes.some((h) => h === undefined)) return false;
  const wanted = [...new Set(hashes as string[])];
  const stored = await tx
    .select({ h: cachePaths.hash })
    .from(cachePaths)
    .where(inArray(cachePaths.hash, wanted));
  return stored.length === wanted.length;
}

async function noteResult(
  tx: DbOrTx,
  buildId: number,
  builder: string | null,
  message: string | null,
): Promise<void> {
  await tx
    .insert(buildResults)
    .values({ buildId, builder, message })
    .onConflictDoUpdate({ target: buildResults.buildId, set: { builder, message, updatedAt: nowSql } });
}

/**
 * An infrastructure failure of the current attempt: the build goes back to the queue, or, after
 * MAX_ATTEMPTS attempts, ends `aborted` (and its dependents dependency-failed).
 */
async function requeueOrAbort(
  tx: DbOrTx,
  buildId: number,
  builder: string | null,
  why: string,
): Promise<BuildState> {
  await tx.delete(buildLeases).where(eq(buildLeases.buildId, buildId));
  const row = await tx
    .select({ attempts: builds.attempts })
    .from(builds)
    .where(eq(builds.id, buildId))
    .then(first);
  await noteResult(tx, buildId, builder, why);
  if ((row?.attempts ?? 0) >= MAX_ATTEMPTS) {
    await tx
      .update(builds)
      .set({ state: "aborted", finishedAt: nowSql })
      .where(and(eq(builds.id, buildId), eq(builds.state, "running")));
    await cascadeDependencyFailed(tx, buildId);
    return "aborted";
  }
  await tx
    .update(builds)
    .set({ state: "queued", startedAt: null })
    .where(and(eq(builds.id, buildId), eq(builds.state, "running")));
  return "queued";
}

export interface BuildReport {
  status: "succeeded" | "failed" | "timed-out";
  /** Set when the builder could not do its part (substitution, upload): the build is retried. */
  infrastructureError?: string | undefined;
  /** A short reason shown with the build (e.g. Nix's last error line). */
  message?: string | undefined;
}

/** Records what the builder reports and returns the build's new state. */
export function finishBuild(
  db: Db,
  buildId: number,
  leaseId: string,
  report: BuildReport,
): Promise<BuildState> {
  return inTransaction(db, async (tx) => {
    const lease = await requireLease(tx, buildId, leaseId);
    const build = await tx.select().from(builds).where(eq(builds.id, buildId)).then(first);
    if (!build) throw new NotFoundError(`there is no build ${buildId}`);
    if (build.state !== "running") {
      // Cancelled while it ran: the verdict is no longer wanted.
      await tx.delete(buildLeases).where(eq(buildLeases.buildId, buildId));
      return build.state;
    }
    if (report.infrastructureError !== undefined) {
      return requeueOrAbort(tx, buildId, lease.builder, report.infrastructureError);
    }
    if (report.status === "succeeded" && !(await allOutputsStored(tx, build.outputs))) {
      return requeueOrAbort(
        tx,
        buildId,
        lease.builder,
        "the builder reported success, but not every output is in the Storehouse",
      );
    }
    await tx.delete(buildLeases).where(eq(buildLeases.buildId, buildId));
    await tx.update(builds).set({ state: report.status, finishedAt: nowSql }).where(eq(builds.id, buildId));
    await noteResult(tx, buildId, lease.builder, report.message ?? null);
    if (report.status !== "succeeded") await cascadeDependencyFailed(tx, buildId);
    return report.status;
  });
}

/** Leases past their expiry: their builds are requeued (or aborted at the attempt limit). Returns how many. */
export function sweepExpiredLeases(db: Db, now = Date.now()): Promise<number> {
  return inTransaction(db, async (tx) => {
    const expired = await tx.select().from(buildLeases).where(lte(buildLeases.expiresAt, now));
    for (const lease of expired) {
      await requeueOrAbort(
        tx,
        lease.buildId,
        lease.builder,
        `lease lost: builder ${lease.builder} stopped calling in during attempt ${lease.attempt}`,
      );
    }
    return expired.length;
  });
}

/**
 * Marks a queued or running build cancelled for everyone; a running one's builder hears it at its next heartbeat.
 * People's cancels go through wants.ts (`withdrawWant`), which calls this only once nothing wants the build.
 */
export function cancelBuild(db: Db, buildId: number): Promise<BuildState> {
  return inTransaction(db, (tx) => cancelBuildIn(tx, buildId));
}

/** `cancelBuild` inside the caller's transaction. */
export async function cancelBuildIn(tx: DbOrTx, buildId: number): Promise<BuildState> {
  const build = await tx
    .select({ state: builds.state })
    .from(builds)
    .where(eq(builds.id, buildId))
    .then(first);
  if (!build) throw new NotFoundError(`there is no build ${buildId}`);
  if (build.state !== "queued" && build.state !== "running") return build.state;
  await tx.update(builds).set({ state: "cancelled", finishedAt: nowSql }).where(eq(builds.id, buildId));
  // What waits on it can never start now; like a failure, that is a dependency failure (a restart undoes both).
  await cascadeDependencyFailed(tx, buildId);
  return "cancelled";
}
