// Wake-ups: "something changed, look again", inside one server and, on PostgreSQL, across every server that shares
// the database. A signal carries no data anyone trusts (the database stays the truth): it only ends a wait early.
// So a lost signal costs a waiter its next safety recheck, never a result, and SQLite needs nothing but this process.
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import pg from "pg";
import type { Logger } from "pino";

/**
 * - `queue`: builds may have become claimable (builders' long-poll claims);
 * - `evaluation` (id): an evaluation was queued, or finished (the evaluator takes work; `-o wait` answers);
 * - `build` (id): a build changed state (progress long-polls, log followers, pages);
 * - `log` (build id): a build's log grew;
 * - `feed`: change_events grew (the machines' event streams);
 * - `channels`: channels may advance (a build finished, an evaluation was recorded): the leader looks;
 * - `schedule` (profile id): a profile's schedule changed: every server arms it again.
 */
export type Topic = "queue" | "evaluation" | "build" | "log" | "feed" | "channels" | "schedule";
const TOPICS: readonly Topic[] = ["queue", "evaluation", "build", "log", "feed", "channels", "schedule"];

/**
 * How long a woken wait sleeps at most: the recheck that makes up for a signal never sent (not every change
 * signals) or lost (PostgreSQL restarting).
 */
export const RECHECK_MS = 1000;

/** The one PostgreSQL channel; a payload is `origin topic key`. */
const CHANNEL = "flox_signals";

export class Signals {
  /** Tells this process's own notifications apart when PostgreSQL echoes them back. */
  readonly origin = randomBytes(6).toString("hex");
  readonly #local = new EventEmitter();
  #send: ((payload: string) => Promise<unknown>) | undefined;
  #logger: Logger | undefined;

  constructor() {
    this.#local.setMaxListeners(0);
  }

  /** After the change committed: waiters here at once, other servers through NOTIFY. */
  publish(topic: Topic, key: string | number = ""): void {
    this.#local.emit(topic, String(key));
    const send = this.#send;
    if (!send) return;
    send(`${this.origin} ${topic} ${key}`).catch((err: unknown) =>
      // The database is away: other servers miss this wake-up and find the change at their next recheck.
      this.#logger?.warn({ err, topic }, "could not send a signal to the other servers"),
    );
  }

  /** Calls `fn(key)` at each signal on `topic`, from here or from another server. Returns the unsubscribe. */
  on(topic: Topic, fn: (key: string) => void): () => void {
    this.#local.on(topic, fn);
    return () => this.#local.off(topic, fn);
  }

  /**
   * Resolves at the next signal on one of `topics` (with this `key`, when given), after `ms`, or when `abort`
   * fires, whichever is first.
   */
  next(
    topics: Topic | readonly Topic[],
    ms: number,
    abort?: AbortSignal,
    key?: string | number,
  ): Promise<void> {
    const list: readonly Topic[] = typeof topics === "string" ? [topics] : topics;
    return new Promise((resolve) => {
      if (abort?.aborted) return resolve();
      const want = key === undefined ? undefined : String(key);
      const done = () => {
        clearTimeout(timer);
        for (const t of list) this.#local.off(t, heard);
        abort?.removeEventListener("abort", done);
        resolve();
      };
      // An empty key is a wake-up for everyone (a reconnect after signals may have been lost).
      const heard = (k: string) => {
        if (want === undefined || k === want || k === "") done();
      };
      const timer = setTimeout(done, ms);
      for (const t of list) this.#local.on(t, heard);
      abort?.addEventListener("abort", done, { once: true });
    });
  }

  /** Delivers a notification heard from PostgreSQL; its own are dropped (already delivered by publish). */
  #heard(payload: string | undefined): void {
    const [origin, topic, key = ""] = (payload ?? "").split(" ");
    if (origin === this.origin || !TOPICS.includes(topic as Topic)) return;
    this.#local.emit(topic as Topic, key);
  }

  /**
   * Joins the servers sharing this PostgreSQL database: sends through `pool`, listens on a connection of its own
   * that comes back by itself after PostgreSQL restarts. Returns the stop.
   */
  crossServers(pool: pg.Pool, connectionString: string, logger?: Logger): () => Promise<void> {
    this.#logger = logger;
    this.#send = (payload) => pool.query("select pg_notify($1, $2)", [CHANNEL, payload]);
    let stopped = false;
    let client: pg.Client | undefined;
    let retry: NodeJS.Timeout | undefined;
    let failures = 0;
    const connect = async () => {
      const c = new pg.Client({ connectionString });
      client = c;
      c.on("notification", (n) => this.#heard(n.payload));
      c.on("error", () => undefined);
      c.on("end", () => {
        if (stopped || client !== c) return;
        client = undefined;
        again();
      });
      try {
        await c.connect();
        await c.query(`listen ${CHANNEL}`);
        if (failures > 0) {
          logger?.info("listening to the other servers' signals again");
          // Whatever was signalled while the connection was down is looked at now.
          for (const topic of TOPICS) this.#local.emit(topic, "");
        }
        failures = 0;
      } catch (err) {
        if (stopped) return;
        if (failures === 0) logger?.warn({ err }, "cannot listen to the other servers' signals; retrying");
        client = undefined;
        c.end().catch(() => undefined);
        again();
      }
    };
    const again = () => {
      failures++;
      retry = setTimeout(connect, Math.min(5000, 250 * 2 ** Math.min(failures, 5)));
      retry.unref();
    };
    void connect();
    return async () => {
      stopped = true;
      clearTimeout(retry);
      this.#send = undefined;
      await client?.end().catch(() => undefined);
    };
  }
}
