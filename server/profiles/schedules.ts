// Auto-upgrade schedules: when a profile's followed entries are re-resolved (ProfileEditor.upgrade, which makes a
// generation only when something moved). `on-publish` (the default) upgrades as soon as a channel one of its
// entries follows advances; `cron` at the expression's times, and once at start for a slot missed while the
// server was down (NixOS autoUpgrade's `persistent`) — in a fleet, also when a server takes the lead; `off` only by hand. Green CI is inherent: channels only
// ever hold built evaluations.
import { hostname } from "node:os";
import { Cron } from "croner";
import { eq } from "drizzle-orm";
import type { Logger } from "pino";
import type { Advanced, ChannelPublisher } from "../channels/channels.js";
import { channelName } from "../channels/channels.js";
import type { Db } from "../db/open.js";
import { first } from "../db/raw.js";
import type { Signals } from "../db/signals.js";
import { profileSchedules, profiles } from "../db/tables.js";
import { InvalidInputError } from "../errors.js";
import type { ProfileEditor } from "./editor.js";
import { currentGeneration, type ProfileRow } from "./profiles.js";

export type ScheduleRow = typeof profileSchedules.$inferSelect;
export type ScheduleKind = ScheduleRow["kind"];

export interface Schedule {
  kind: ScheduleKind;
  cron: string | null;
  jitterSeconds: number;
  lastRunAt: string | null;
  /** The next cron slot; null for on-publish and off. */
  nextRunAt: string | null;
}

/** Throws a user-facing error naming what is wrong with the expression. */
export function checkCron(expr: string): void {
  try {
    new Cron(expr, { paused: true }).stop();
  } catch (err) {
    throw new InvalidInputError(
      `"${expr}" is not a cron expression: ${(err as Error).message} (e.g. "0 4 * * *" for 04:00 daily; a sixth leading field is seconds)`,
    );
  }
}

export async function scheduleOf(db: Db, profileId: number): Promise<Schedule> {
  const row = await db
    .select()
    .from(profileSchedules)
    .where(eq(profileSchedules.profileId, profileId))
    .then(first);
  if (!row) return { kind: "on-publish", cron: null, jitterSeconds: 0, lastRunAt: null, nextRunAt: null };
  const next = row.kind === "cron" && row.cron ? new Cron(row.cron, { paused: true }).nextRun() : null;
  return {
    kind: row.kind,
    cron: row.cron,
    jitterSeconds: row.jitterSeconds,
    lastRunAt: row.lastRunAt,
    nextRunAt: next ? next.toISOString() : null,
  };
}

export async function setSchedule(
  db: Db,
  profileId: number,
  spec: { kind: ScheduleKind; cron?: string | undefined; jitterSeconds?: number | undefined },
): Promise<void> {
  if (spec.kind === "cron") {
    if (!spec.cron)
      throw new InvalidInputError("a cron schedule needs an expression, e.g. --cron '0 4 * * *'");
    checkCron(spec.cron);
  }
  const values = {
    kind: spec.kind,
    cron: spec.kind === "cron" ? (spec.cron ?? null) : null,
    jitterSeconds: spec.jitterSeconds ?? 0,
    // A new schedule starts now: catch-up never runs for slots before it existed.
    lastRunAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
  };
  await db
    .insert(profileSchedules)
    .values({ profileId, ...values })
    .onConflictDoUpdate({ target: profileSchedules.profileId, set: values });
}

/**
 * What the scheduler reads the time from and waits on. Tests drive a fake one (testing/fake-clock.ts), so cron
 * slots fire without waiting for the wall clock; croner only computes the slots.
 */
export interface ScheduleClock {
  now(): Date;
  /** Calls `fire` once the clock reaches `when`; the answer cancels it. */
  at(when: Date, fire: () => void): () => void;
}

/** setTimeout caps a delay at 2^31-1 ms (about 24.8 days): longer waits go in steps. */
const maxTimerMs = 2 ** 31 - 1;

export const systemClock: ScheduleClock = {
  now: () => new Date(),
  at(when, fire) {
    let timer: NodeJS.Timeout;
    const wait = () => {
      const left = when.getTime() - Date.now();
      timer = left > maxTimerMs ? setTimeout(wait, maxTimerMs) : setTimeout(fire, Math.max(0, left));
    };
    wait();
    return () => clearTimeout(timer);
  },
};

export interface ProfileSchedulerOptions {
  db: Db;
  editor: ProfileEditor;
  channels: ChannelPublisher;
  logger: Logger;
  /** Default: the system clock. */
  clock?: ScheduleClock;
  /** Several servers: each arms every schedule, only the leader runs them (default: this one). */
  leading?: () => boolean;
  /** Hears of schedules changed on other servers. */
  signals?: Signals;
}

/**
 * How often a server of a fleet looks whether it has just taken the lead: then it makes up the slots the leader
 * before it missed (it died at a slot, or between a slot and its run).
 */
const LEAD_WATCH_MS = 2000;

/** A cron schedule in force: the slot it waits for, and whether its last run is still going. */
interface ArmedCron {
  cancel: () => void;
  running: boolean;
}

/** Runs the schedules of every profile; `reload(profileId)` after a schedule changed. */
export class ProfileScheduler {
  readonly #o: ProfileSchedulerOptions;
  readonly #clock: ScheduleClock;
  readonly #crons = new Map<number, ArmedCron>();
  readonly #onAdvanced = (a: Advanced) => this.#published(a);
  #unsubscribe: (() => void) | undefined;
  #stopLeadWatch: (() => void) | undefined;
  #wasLeading = false;

  constructor(options: ProfileSchedulerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  async start(): Promise<void> {
    this.#o.channels.on("advanced", this.#onAdvanced);
    this.#unsubscribe = this.#o.signals?.on("schedule", (id) => {
      if (Number(id) > 0)
        this.reload(Number(id)).catch((err: unknown) =>
          this.#o.logger.error({ err, profile: id }, "schedule: reloading failed"),
        );
    });
    for (const row of await this.#o.db.select().from(profileSchedules)) this.#arm(row, true);
    if (this.#o.leading) {
      this.#wasLeading = this.#o.leading();
      this.#watchLead();
    }
  }

  #watchLead(): void {
    const next = new Date(this.#clock.now().getTime() + LEAD_WATCH_MS);
    this.#stopLeadWatch = this.#clock.at(next, () => {
      const leading = this.#o.leading?.() ?? true;
      if (leading && !this.#wasLeading)
        this.#catchUpAll().catch((err: unknown) =>
          this.#o.logger.error({ err }, "schedule: making up missed slots after taking the lead failed"),
        );
      this.#wasLeading = leading;
      this.#watchLead();
    });
  }

  async #catchUpAll(): Promise<void> {
    for (const row of await this.#o.db.select().from(profileSchedules)) {
      const armed = this.#crons.get(row.profileId);
      if (armed && row.kind === "cron" && row.cron) this.#catchUp(row, row.cron, armed);
    }
  }

  stop(): void {
    this.#stopLeadWatch?.();
    this.#stopLeadWatch = undefined;
    this.#unsubscribe?.();
    this.#o.channels.off("advanced", this.#onAdvanced);
    for (const c of this.#crons.values()) c.cancel();
    this.#crons.clear();
  }

  async reload(profileId: number): Promise<void> {
    this.#crons.get(profileId)?.cancel();
    this.#crons.delete(profileId);
    const row = await this.#o.db
      .select()
      .from(profileSchedules)
      .where(eq(profileSchedules.profileId, profileId))
      .then(first);
    if (row) this.#arm(row, false);
  }

  #arm(row: ScheduleRow, catchUp: boolean): void {
    if (row.kind !== "cron" || !row.cron) return;
    const expr = row.cron;
    const slots = new Cron(expr, { paused: true });
    const armed: ArmedCron = { cancel: () => {}, running: false };
    const armNext = (after: Date) => {
      const slot = slots.nextRun(after);
      if (!slot) return;
      armed.cancel = this.#clock.at(slot, () => {
        // A run still going when the next slot comes is not doubled (croner's `protect`).
        if (!armed.running && this.#o.leading?.() !== false) {
          armed.running = true;
          void this.#run(row.profileId, "cron", `cron ${expr}`, slot).finally(() => {
            armed.running = false;
          });
        }
        armNext(new Date(Math.max(this.#clock.now().getTime(), slot.getTime())));
      });
    };
    armNext(this.#clock.now());
    this.#crons.set(row.profileId, armed);
    if (catchUp) this.#catchUp(row, expr, armed);
  }

  /** Makes up the first slot after the schedule's last run if it has passed (once; never beside a run going on). */
  #catchUp(row: ScheduleRow, expr: string, armed: ArmedCron): void {
    if (armed.running || this.#o.leading?.() === false) return;
    const since = new Date(row.lastRunAt ?? row.updatedAt);
    const missed = new Cron(expr, { paused: true }).nextRun(since);
    if (!missed || missed.getTime() > this.#clock.now().getTime()) return;
    this.#o.logger.info({ profile: row.profileId, missed: missed.toISOString() }, "schedule: catching up");
    armed.running = true;
    void this.#run(
      row.profileId,
      "cron",
      `catch-up of the ${missed.toISOString()} run (${expr})`,
      missed,
    ).finally(() => {
      armed.running = false;
    });
  }

  /** A channel moved: every on-publish profile with an entry following it upgrades. */
  async #published(a: Advanced): Promise<void> {
    const name = channelName(a.org, a.branch);
    for (const p of await this.#o.db.select().from(profiles)) {
      if ((await scheduleOf(this.#o.db, p.id)).kind !== "on-publish") continue;
      const follows = (await currentGeneration(this.#o.db, p))?.entries.some((e) =>
        e.source.startsWith(`${name}#`),
      );
      if (follows) {
        void this.#run(
          p.id,
          "on-publish",
          `channel ${name} advanced to evaluation #${a.evaluationId}`,
          this.#clock.now(),
        );
      }
    }
  }

  async #run(profileId: number, kind: string, reason: string, slot: Date): Promise<void> {
    const { db, editor, logger } = this.#o;
    const profile: ProfileRow | undefined = await db
      .select()
      .from(profiles)
      .where(eq(profiles.id, profileId))
      .then(first);
    if (!profile) return;
    try {
      const r = await editor.upgrade(profile, () => true, {
        author: `schedule (${kind})`,
        host: hostname(),
        command: "auto-upgrade",
        reason,
      });
      if (kind === "cron") {
        await db
          .update(profileSchedules)
          .set({ lastRunAt: slot.toISOString() })
          .where(eq(profileSchedules.profileId, profileId));
      }
      logger.info(
        { profile: profileId, kind, generation: r.generation?.number ?? null },
        r.generation ? "schedule: new generation" : "schedule: nothing changed",
      );
    } catch (err) {
      logger.error({ err, profile: profileId, kind }, "scheduled upgrade failed");
    }
  }
}
