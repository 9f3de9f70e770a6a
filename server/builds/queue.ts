// The build queue: claiming with a lease, heartbeats, results, cascades and the lease sweeper. Every change
// is one SQLite transaction, so a server killed at any moment restarts with each build exactly once somewhere:
// queued, leased to one builder (whose lease the sweeper takes back if it never calls again), or finished.
import { randomBytes } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import type { BuildState } from "../../lib/api/builds.js";
import type { Db, Tx } from "../db/open.js";
import { builders, buildLeases, buildResults, builds, cachePaths } from "../db/schema.js";
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

const nowSql = sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`;

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
): ClaimedBuild | null {
  return db.transaction(
    (tx) => {
      tx.insert(builders)
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
        })
        .run();
      const held = tx.get<{ n: number }>(
        sql`select count(*) as n from ${buildLeases} where builder = ${req.builderName} and expires_at > ${now}`,
      );
      if ((held?.n ?? 0) >= req.maxJobs) return null;
      const pick = tx.get<{ id: number } | undefined>(sql`
        select b.id from ${builds} b
        where b.state = 'queued'
          and b.system in (select value from json_each(${JSON.stringify(req.systems)}))
          and not exists (
            select 1 from json_each(b.required_features) f
            where f.value not in (select value from json_each(${JSON.stringify(req.features)})))
          and not exists (
            select 1 from build_deps d join ${builds} x on x.id = d.depends_on
            where d.build_id = b.id and x.state not in ('succeeded', 'cached'))
        order by b.priority desc, b.id asc
        limit 1`);
      if (!pick) return null;
      const row = tx
        .update(builds)
        .set({ state: "running", attempts: sql`${builds.attempts} + 1`, startedAt: nowSql, finishedAt: null })
        .where(and(eq(builds.id, pick.id), eq(builds.state, "queued")))
        .returning()
        .get();
      if (!row) return null;
      const leaseId = randomBytes(24).toString("base64url");
      const expiresAt = now + leaseSeconds * 1000;
      tx.delete(buildLeases).where(eq(buildLeases.buildId, row.id)).run();
      tx.insert(buildLeases)
        .values({ buildId: row.id, leaseId, builder: req.builderName, attempt: row.attempts, expiresAt })
        .run();
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
    },
    { behavior: "immediate" },
  );
}

export type LeaseRow = typeof buildLeases.$inferSelect;

/** The lease `leaseId` of build `buildId`, or a ConflictError telling the builder it lost it. */
export function requireLease(db: DbOrTx, buildId: number, leaseId: string): LeaseRow {
  const lease = db.select().from(buildLeases).where(eq(buildLeases.buildId, buildId)).get();
  if (!lease || lease.leaseId !== leaseId) {
    const exists = db.select({ id: builds.id }).from(builds).where(eq(builds.id, buildId)).get();
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
): HeartbeatAnswer {
  return db.transaction(
    (tx) => {
      const lease = requireLease(tx, buildId, leaseId);
      const build = tx.select({ state: builds.state }).from(builds).where(eq(builds.id, buildId)).get();
      if (build?.state !== "running") {
        tx.delete(buildLeases).where(eq(buildLeases.buildId, buildId)).run();
        return { cancel: true, leaseExpiresAt: lease.expiresAt };
      }
      const expiresAt = now + leaseSeconds * 1000;
      tx.update(buildLeases).set({ expiresAt }).where(eq(buildLeases.buildId, buildId)).run();
      tx.update(builders).set({ lastSeen: nowSql }).where(eq(builders.name, lease.builder)).run();
      return { cancel: false, leaseExpiresAt: expiresAt };
    },
    { behavior: "immediate" },
  );
}

/** Every queued build that waits, directly or through others, on `buildId` becomes dependency-failed. */
export function cascadeDependencyFailed(tx: DbOrTx, buildId: number): number {
  return tx.run(sql`
    with recursive dependents(id) as (
      select build_id from build_deps where depends_on = ${buildId}
      union
      select d.build_id from build_deps d join dependents p on d.depends_on = p.id
    )
    update ${builds} set state = 'dependency-failed', finished_at = ${nowSql}
    where id in (select id from dependents) and state = 'queued'`).changes;
}

function allOutputsStored(tx: DbOrTx, outputs: Record<string, string>): boolean {
  const paths = Object.values(outputs);
  return (
    paths.length > 0 &&
    paths.every((p) => {
      const hash = /^\/nix\/store\/([0-9a-df-np-sv-z]{32})-/.exec(p)?.[1];
      return (
        hash !== undefined &&
        tx.select({ h: cachePaths.hash }).from(cachePaths).where(eq(cachePaths.hash, hash)).get() !==
          undefined
      );
    })
  );
}

function noteResult(tx: DbOrTx, buildId: number, builder: string | null, message: string | null): void {
  tx.insert(buildResults)
    .values({ buildId, builder, message })
    .onConflictDoUpdate({ target: buildResults.buildId, set: { builder, message, updatedAt: nowSql } })
    .run();
}

/**
 * An infrastructure failure of the current attempt: the build goes back to the queue, or, after
 * MAX_ATTEMPTS attempts, ends `aborted` (and its dependents dependency-failed).
 */
function requeueOrAbort(tx: DbOrTx, buildId: number, builder: string | null, why: string): BuildState {
  tx.delete(buildLeases).where(eq(buildLeases.buildId, buildId)).run();
  const row = tx.select({ attempts: builds.attempts }).from(builds).where(eq(builds.id, buildId)).get();
  noteResult(tx, buildId, builder, why);
  if ((row?.attempts ?? 0) >= MAX_ATTEMPTS) {
    tx.update(builds)
      .set({ state: "aborted", finishedAt: nowSql })
      .where(and(eq(builds.id, buildId), eq(builds.state, "running")))
      .run();
    cascadeDependencyFailed(tx, buildId);
    return "aborted";
  }
  tx.update(builds)
    .set({ state: "queued", startedAt: null })
    .where(and(eq(builds.id, buildId), eq(builds.state, "running")))
    .run();
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
export function finishBuild(db: Db, buildId: number, leaseId: string, report: BuildReport): BuildState {
  return db.transaction(
    (tx) => {
      const lease = requireLease(tx, buildId, leaseId);
      const build = tx.select().from(builds).where(eq(builds.id, buildId)).get();
      if (!build) throw new NotFoundError(`there is no build ${buildId}`);
      if (build.state !== "running") {
        // Cancelled while it ran: the verdict is no longer wanted.
        tx.delete(buildLeases).where(eq(buildLeases.buildId, buildId)).run();
        return build.state;
      }
      if (report.infrastructureError !== undefined) {
        return requeueOrAbort(tx, buildId, lease.builder, report.infrastructureError);
      }
      if (report.status === "succeeded" && !allOutputsStored(tx, build.outputs)) {
        return requeueOrAbort(
          tx,
          buildId,
          lease.builder,
          "the builder reported success, but not every output is in the Storehouse",
        );
      }
      tx.delete(buildLeases).where(eq(buildLeases.buildId, buildId)).run();
      tx.update(builds).set({ state: report.status, finishedAt: nowSql }).where(eq(builds.id, buildId)).run();
      noteResult(tx, buildId, lease.builder, report.message ?? null);
      if (report.status !== "succeeded") cascadeDependencyFailed(tx, buildId);
      return report.status;
    },
    { behavior: "immediate" },
  );
}

/** Leases past their expiry: their builds are requeued (or aborted at the attempt limit). Returns how many. */
export function sweepExpiredLeases(db: Db, now = Date.now()): number {
  return db.transaction(
    (tx) => {
      const expired = tx.select().from(buildLeases).where(sql`${buildLeases.expiresAt} <= ${now}`).all();
      for (const lease of expired) {
        requeueOrAbort(
          tx,
          lease.buildId,
          lease.builder,
          `lease lost: builder ${lease.builder} stopped calling in during attempt ${lease.attempt}`,
        );
      }
      return expired.length;
    },
    { behavior: "immediate" },
  );
}

/**
 * Marks a queued or running build cancelled for everyone; a running one's builder hears it at its next heartbeat.
 * People's cancels go through wants.ts (`withdrawWant`), which calls this only once nothing wants the build.
 */
export function cancelBuild(db: Db, buildId: number): BuildState {
  return db.transaction((tx) => cancelBuildIn(tx, buildId));
}

/** `cancelBuild` inside the caller's transaction. */
export function cancelBuildIn(tx: DbOrTx, buildId: number): BuildState {
  const build = tx.select({ state: builds.state }).from(builds).where(eq(builds.id, buildId)).get();
  if (!build) throw new NotFoundError(`there is no build ${buildId}`);
  if (build.state !== "queued" && build.state !== "running") return build.state;
  tx.update(builds).set({ state: "cancelled", finishedAt: nowSql }).where(eq(builds.id, buildId)).run();
  // What waits on it can never start now; like a failure, that is a dependency failure (a restart undoes both).
  cascadeDependencyFailed(tx, buildId);
  return "cancelled";
}
