// Channels: each jobset publishes one. It points at the jobset's newest green evaluation (every job built, or
// the jobs `[channel] gate` of flox.toml names), never backwards on its own; a person may pin any evaluation.
// The channel is the newest of its points (channel_points), so its history is kept by construction.
import { EventEmitter } from "node:events";
import { and, asc, desc, eq, sql } from "drizzle-orm";
import type { Logger } from "pino";
import { jobState } from "../builds/wants.js";
import type { Db, Tx } from "../db/open.js";
import { first, one, rawRows } from "../db/raw.js";
import type { Signals } from "../db/signals.js";
import { builds, channelPoints, evalJobs, evaluations, jobsets, orgs } from "../db/tables.js";
import { inTransaction } from "../db/transaction.js";
import { ConflictError, NotFoundError } from "../errors.js";
import { appendChannelChange } from "../machines/feed.js";

export type ChannelPointRow = typeof channelPoints.$inferSelect;
export type JobsetRow = typeof jobsets.$inferSelect;

/** The default branch publishes channel `acme`; any other branch B publishes `acme/B`. */
export const DEFAULT_BRANCH = "main";

export function channelName(org: string, branch: string): string {
  return branch === DEFAULT_BRANCH ? org : `${org}/${branch}`;
}

/** `acme` → acme/main, `acme/feature/x` → acme/feature/x. */
export function splitChannelName(name: string): { org: string; branch: string } {
  const slash = name.indexOf("/");
  return slash < 0
    ? { org: name, branch: DEFAULT_BRANCH }
    : { org: name.slice(0, slash), branch: name.slice(slash + 1) };
}

export async function currentPoint(db: Db, jobsetId: number): Promise<ChannelPointRow | undefined> {
  return await db
    .select()
    .from(channelPoints)
    .where(eq(channelPoints.jobsetId, jobsetId))
    .orderBy(desc(channelPoints.id))
    .limit(1)
    .then(first);
}

/** Oldest first. */
export async function channelHistory(db: Db, jobsetId: number): Promise<ChannelPointRow[]> {
  return await db
    .select()
    .from(channelPoints)
    .where(eq(channelPoints.jobsetId, jobsetId))
    .orderBy(asc(channelPoints.id));
}

const green = ["succeeded", "cached"];

/**
 * May the channel point at this evaluation? With no gate: it succeeded, has jobs and no problems, and every
 * job's build is built. With a gate: each gate job exists and is built. Builds still running make it "not yet".
 */
export async function isPublishable(db: Db | Tx, e: typeof evaluations.$inferSelect): Promise<boolean> {
  if (e.state !== "succeeded") return false;
  const jobs = await db
    .select({ attr: evalJobs.attr, state: jobState() })
    .from(evalJobs)
    .innerJoin(builds, eq(builds.id, evalJobs.buildId))
    .where(eq(evalJobs.evaluationId, e.id));
  if (e.channelGate) {
    const state = new Map(jobs.map((j) => [j.attr, j.state]));
    return e.channelGate.every((attr) => green.includes(state.get(attr) ?? "missing"));
  }
  return jobs.length > 0 && e.problemCount === 0 && jobs.every((j) => green.includes(j.state));
}

export interface Advanced {
  jobsetId: number;
  org: string;
  branch: string;
  evaluationId: number;
  point: number;
}

/**
 * Moves every unpinned channel to its jobset's newest publishable evaluation newer than where it points now.
 * Returns the channels that moved. One transaction: two callers never add the same point twice.
 */
export async function advanceChannels(db: Db): Promise<Advanced[]> {
  return inTransaction(db, async (tx) => {
    const candidates = await rawRows<{ id: number; jobsetId: number }>(
      tx,
      sql`
        select e.id, e.jobset_id as "jobsetId" from ${evaluations} e
        join ${jobsets} j on j.id = e.jobset_id
        where e.state = 'succeeded' and not j.channel_pinned
          and e.id > coalesce((select p.evaluation_id from ${channelPoints} p
                               where p.jobset_id = e.jobset_id order by p.id desc limit 1), 0)
        order by e.jobset_id, e.id desc`,
    );
    const moved: Advanced[] = [];
    const done = new Set<number>();
    for (const c of candidates) {
      if (done.has(c.jobsetId)) continue;
      const e = await tx.select().from(evaluations).where(eq(evaluations.id, c.id)).then(first);
      if (!e || !(await isPublishable(tx, e))) continue;
      done.add(c.jobsetId);
      const point = await tx
        .insert(channelPoints)
        .values({ jobsetId: e.jobsetId, evaluationId: e.id, commitSha: e.commitSha, reason: "advanced" })
        .returning({ id: channelPoints.id })
        .then(one);
      await appendChannelChange(tx, {
        jobsetId: e.jobsetId,
        action: "advanced",
        pointId: point.id,
        evaluationId: e.id,
        commitSha: e.commitSha,
      });
      const names = await tx
        .select({ org: orgs.name, branch: jobsets.branch })
        .from(jobsets)
        .innerJoin(orgs, eq(orgs.id, jobsets.orgId))
        .where(eq(jobsets.id, e.jobsetId))
        .then(one);
      moved.push({
        jobsetId: e.jobsetId,
        org: names?.org ?? "?",
        branch: names?.branch ?? "?",
        evaluationId: e.id,
        point: point.id,
      });
    }
    return moved;
  });
}

/**
 * Points the channel at `evaluationId` (an earlier one to roll back, or any publishable one) and keeps it there
 * until unpinned. The evaluation must belong to the jobset and have its outputs built.
 */
export async function pinChannel(
  db: Db,
  jobset: JobsetRow,
  evaluationId: number,
  actor: string,
): Promise<ChannelPointRow> {
  return inTransaction(db, async (tx) => {
    const e = await tx.select().from(evaluations).where(eq(evaluations.id, evaluationId)).then(first);
    if (!e || e.jobsetId !== jobset.id) {
      throw new NotFoundError(
        `evaluation #${evaluationId} is not one of jobset ${jobset.branch}'s; \`flox channel history\` lists where the channel was`,
      );
    }
    if (!(await isPublishable(tx, e))) {
      throw new ConflictError(
        `evaluation #${evaluationId} cannot be published: not all of its (gate) jobs are built; pick one from \`flox channel history\``,
      );
    }
    await tx.update(jobsets).set({ channelPinned: true }).where(eq(jobsets.id, jobset.id));
    const point = await tx
      .insert(channelPoints)
      .values({ jobsetId: jobset.id, evaluationId, commitSha: e.commitSha, reason: "pinned", actor })
      .returning()
      .then(one);
    await appendChannelChange(tx, {
      jobsetId: jobset.id,
      action: "pinned",
      pointId: point.id,
      evaluationId,
      commitSha: e.commitSha,
    });
    return point;
  });
}

/** Lets CI move the channel again (at once, if a newer green evaluation is waiting). */
export async function unpinChannel(db: Db, jobset: JobsetRow): Promise<void> {
  await db.update(jobsets).set({ channelPinned: false }).where(eq(jobsets.id, jobset.id));
}

export interface ChannelJob {
  attr: string;
  name: string;
  system: string;
  outputs: Record<string, string>;
}

/** What a channel point publishes: the evaluation's jobs whose builds are built (all of them, without a gate). */
export async function publishedJobs(db: Db, evaluationId: number): Promise<ChannelJob[]> {
  return (
    await db
      .select({
        attr: evalJobs.attr,
        name: evalJobs.name,
        system: evalJobs.system,
        outputs: evalJobs.outputs,
        state: jobState(),
      })
      .from(evalJobs)
      .innerJoin(builds, eq(builds.id, evalJobs.buildId))
      .where(and(eq(evalJobs.evaluationId, evaluationId)))
      .orderBy(asc(evalJobs.attr))
  )

    .filter((j) => green.includes(j.state))
    .map(({ state: _state, ...job }) => job);
}

/** Several servers on one database: only the leader advances channels; the others tell it when to look. */
export interface ChannelCluster {
  leading?: () => boolean;
  signals?: Signals;
}

/**
 * Runs advanceChannels when poked (after a build finished, an evaluation was recorded) and every `intervalMs`
 * as a guarantee; emits `advanced` with each move, for what follows channels (profiles, subscriptions). The pin
 * route emits `pinned` on it.
 */
export class ChannelPublisher extends EventEmitter<{ advanced: [Advanced]; pinned: [ChannelPointRow] }> {
  readonly #db: Db;
  readonly #logger: Logger;
  readonly #cluster: ChannelCluster;
  #timer: NodeJS.Timeout | undefined;
  #pending = false;
  #unsubscribe: (() => void) | undefined;

  constructor(db: Db, logger: Logger, cluster: ChannelCluster = {}) {
    super();
    this.#db = db;
    this.#logger = logger;
    this.#cluster = cluster;
  }

  start(intervalMs = 2000): void {
    // The guarantee runs where the work runs: a server that does not lead has nothing to look at.
    this.#timer = setInterval(() => this.#cluster.leading?.() !== false && this.poke(), intervalMs);
    this.#timer.unref();
    this.#unsubscribe = this.#cluster.signals?.on(
      "channels",
      () => this.#cluster.leading?.() !== false && this.poke(),
    );
    this.poke();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#unsubscribe?.();
  }

  /** Coalesced: many pokes in one tick make one pass. On a server that does not lead, the leader is told. */
  poke(): void {
    if (this.#cluster.leading?.() === false) {
      this.#cluster.signals?.publish("channels");
      return;
    }
    if (this.#pending) return;
    this.#pending = true;
    setImmediate(async () => {
      this.#pending = false;
      try {
        for (const moved of await advanceChannels(this.#db)) {
          this.#logger.info(moved, "channel advanced");
          this.emit("advanced", moved);
        }
      } catch (err) {
        this.#logger.error({ err }, "advancing channels failed");
      }
    });
  }
}
