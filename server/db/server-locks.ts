// Which server does what, when several share one PostgreSQL database: session advisory locks held on a connection
// of this server's own. PostgreSQL drops them the moment that connection ends, so a server killed with -9 lets go
// of everything it held within the time its socket takes to close, and another server takes over.
// On SQLite there is one server: it holds everything.
import { randomInt } from "node:crypto";
import pg from "pg";
import type { Logger } from "pino";

/** A lock's two keys (PostgreSQL's `pg_advisory_lock(int, int)`): what kind of thing, and which one. */
export type LockKey = readonly [kind: number, id: number];

/** The kinds of lock (the first key). Distinct from the migration lock (4242013) and the transaction lock. */
export const LOCK = {
  /** The server that runs the background work: sweeper, Storehouse maintenance, channels, schedules, GC. */
  leader: [4242100, 0] as LockKey,
  /** Held while an evaluation runs: a running evaluation whose lock is free lost its server. */
  evaluation: (id: number): LockKey => [4242101, id],
  /** Held while a push to an org's repo is received, on every server (git-handler.ts). */
  push: (orgId: number): LockKey => [4242102, orgId],
  /** Held by each running server for its life, under a random id: whose relay sessions are still open. */
  run: (runId: number): LockKey => [4242103, runId],
  /** Held while the Storehouse's GC runs (any server: the leader's schedule or an API request). */
  gc: [4242104, 0] as LockKey,
};

export interface ServerLocks {
  /** This server's run, held under LOCK.run for as long as it lives (0 for a lone server). */
  readonly runId: number;
  /** Takes `key` if no other server holds it; true if this server holds it now. */
  tryHold(key: LockKey): Promise<boolean>;
  release(key: LockKey): Promise<void>;
  /** Is `key` held by another server (one alive: its connection is open)? */
  heldElsewhere(key: LockKey): Promise<boolean>;
  /** Does this server hold the leader lock (tried again every few seconds)? */
  readonly leading: boolean;
  /** Resolves once the first try for the leader lock is over (start-up waits, so `leading` means something). */
  readonly settled: Promise<void>;
  /** Waits for `key` across servers (a pooled connection held until the release): the push lock. */
  hold(key: LockKey): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** One server alone (SQLite): it holds every lock; the in-process mutexes do the rest. */
export function singleServerLocks(): ServerLocks {
  return {
    runId: 0,
    tryHold: async () => true,
    release: async () => {},
    heldElsewhere: async () => false,
    leading: true,
    settled: Promise.resolve(),
    hold: async () => async () => {},
    close: async () => {},
  };
}

const idOf = (k: LockKey) => `${k[0]}:${k[1]}`;
const LEADER_RETRY_MS = 2000;

/** The PostgreSQL locks: one connection of this server's own holds them; it comes back after a restart. */
export class PostgresServerLocks implements ServerLocks {
  readonly #pool: pg.Pool;
  readonly #url: string;
  readonly #logger: Logger | undefined;
  /** What this server means to hold (taken again after a reconnect, if still free). */
  readonly #wanted = new Map<string, LockKey>();
  #client: pg.Client | undefined;
  #connecting: Promise<pg.Client> | undefined;
  /** The connection's queries, one at a time. */
  #queue: Promise<unknown> = Promise.resolve();
  #leading = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly settled: Promise<void>;
  readonly runId = randomInt(1, 2 ** 31 - 1);

  constructor(pool: pg.Pool, connectionString: string, logger?: Logger) {
    this.#pool = pool;
    this.#url = connectionString;
    this.#logger = logger;
    this.#timer = setInterval(() => void this.#tryLead(), LEADER_RETRY_MS);
    this.#timer.unref();
    // Taken again with the others after a reconnect; nobody else has this id.
    this.settled = this.tryHold(LOCK.run(this.runId)).then(
      () => this.#tryLead(),
      () => this.#tryLead(),
    );
  }

  get leading(): boolean {
    return this.#leading;
  }

  async #tryLead(): Promise<void> {
    if (this.#closed || this.#leading) return;
    const got = await this.tryHold(LOCK.leader).catch(() => false);
    if (got && !this.#leading)
      this.#logger?.info("this server now runs the background work (leader lock taken)");
    this.#leading = got;
  }

  async #connection(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    this.#connecting ??= (async () => {
      const c = new pg.Client({ connectionString: this.#url });
      c.on("error", () => undefined);
      c.on("end", () => {
        if (this.#client !== c) return;
        // Every lock went with the connection: another server may hold them now.
        this.#client = undefined;
        if (this.#leading) this.#logger?.warn("lost the leader lock (the database connection ended)");
        this.#leading = false;
      });
      try {
        await c.connect();
      } catch (err) {
        c.end().catch(() => undefined);
        throw err;
      }
      this.#client = c;
      // Taken again what this server held, where no other server took it meanwhile.
      for (const [id, key] of this.#wanted) {
        const r = await c.query("select pg_try_advisory_lock($1, $2) as got", [key[0], key[1]]);
        if (!r.rows[0]?.got) this.#wanted.delete(id);
        else if (id === idOf(LOCK.leader)) this.#leading = true;
      }
      return c;
    })().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  #run<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const next = this.#queue.then(async () => fn(await this.#connection()));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async tryHold(key: LockKey): Promise<boolean> {
    if (this.#wanted.has(idOf(key)) && this.#client) return true;
    return this.#run(async (c) => {
      // Held already (taken again by a reconnect): a second lock would need a second unlock.
      if (this.#wanted.has(idOf(key))) return true;
      const r = await c.query("select pg_try_advisory_lock($1, $2) as got", [key[0], key[1]]);
      const got = r.rows[0]?.got === true;
      if (got) this.#wanted.set(idOf(key), key);
      return got;
    });
  }

  async release(key: LockKey): Promise<void> {
    if (!this.#wanted.delete(idOf(key))) return;
    if (idOf(key) === idOf(LOCK.leader)) this.#leading = false;
    await this.#run(async (c) => {
      await c.query("select pg_advisory_unlock($1, $2)", [key[0], key[1]]);
    }).catch(() => undefined);
  }

  async heldElsewhere(key: LockKey): Promise<boolean> {
    if (this.#wanted.has(idOf(key))) return false;
    return this.#run(async (c) => {
      const r = await c.query("select pg_try_advisory_lock($1, $2) as got", [key[0], key[1]]);
      if (r.rows[0]?.got !== true) return true;
      await c.query("select pg_advisory_unlock($1, $2)", [key[0], key[1]]);
      return false;
    });
  }

  async hold(key: LockKey): Promise<() => Promise<void>> {
    const client = await this.#pool.connect();
    try {
      await client.query("select pg_advisory_lock($1, $2)", [key[0], key[1]]);
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      try {
        await client.query("select pg_advisory_unlock($1, $2)", [key[0], key[1]]);
        client.release();
      } catch (err) {
        // The connection is gone, and the lock with it.
        client.release(err as Error);
      }
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#leading = false;
    await this.#queue;
    await this.#client?.end().catch(() => undefined);
    this.#client = undefined;
  }
}
