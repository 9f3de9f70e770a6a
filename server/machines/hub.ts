// Fans the feed (change_events) out to the open event streams. When something changed the hub reads the new events
// once and hands them to every stream, which keeps those of its subscriptions: one query per change, not one per
// machine. The table stays the truth: a poke that never comes is made up by a look at max(id) every second, and a
// stream that needs more (it just connected, or its subscriptions changed) reads the table itself.
import type { Logger } from "pino";
import type { Db } from "../db/open.js";
import { type FeedEvent, lastEventId, readEvents } from "./feed.js";

export interface StreamListener {
  /** New events of the feed, oldest first (any subscription: the stream picks its own). */
  deliver(events: FeedEvent[]): void;
  /** Its subscriptions changed: read them (and the feed) again. */
  resync(): void;
  /** The server is shutting down (or the token was revoked): end the stream. */
  stop(): void;
}

const BATCH = 1000;

export class MachineHub {
  readonly #db: Db;
  readonly #logger: Logger | undefined;
  readonly #streams = new Map<number, Set<StreamListener>>();
  #timer: NodeJS.Timeout | undefined;
  #pending = false;
  /** The newest event handed out. */
  #seen: number;
  #closed = false;
  #reading: Promise<void>;

  constructor(db: Db, logger?: Logger) {
    this.#db = db;
    this.#logger = logger;
    this.#seen = 0;
    // Where the feed stands now: only what is appended after this is news. Reads wait for it.
    this.#reading = lastEventId(db).then(
      (id) => {
        this.#seen = id;
      },
      (err: unknown) => logger?.error({ err }, "machine hub: reading where the feed stands failed"),
    );
  }

  /** Starts the once-a-second safety look at the feed. */
  start(intervalMs = 1000): void {
    this.#timer = setInterval(() => {
      lastEventId(this.#db).then(
        (id) => {
          if (id !== this.#seen) this.poke();
        },
        (err: unknown) => this.#logger?.error({ err }, "machine hub: looking at the feed failed"),
      );
    }, intervalMs);
    this.#timer.unref();
  }

  /** Coalesced: many pokes in one tick make one read, after the poking transaction committed. */
  poke(): void {
    if (this.#pending || this.#closed) return;
    this.#pending = true;
    // One read at a time, in order: each starts where the one before stopped.
    setImmediate(() => {
      this.#reading = this.#reading.then(() => this.#readNew());
    });
  }

  async #readNew(): Promise<void> {
    this.#pending = false;
    try {
      for (;;) {
        const events = await readEvents(this.#db, this.#seen, BATCH);
        const newest = events.at(-1)?.event.id;
        if (!newest) break;
        this.#seen = newest;
        for (const set of this.#streams.values()) for (const l of set) l.deliver(events);
        if (events.length < BATCH) break;
      }
    } catch (err) {
      // The database is closing, say; the streams read the table themselves when they resync.
      this.#logger?.error({ err }, "machine hub: reading the feed failed");
    }
  }

  /** One machine's subscriptions changed. */
  resync(machineId: number): void {
    for (const l of this.#streams.get(machineId) ?? []) l.resync();
  }

  /** Registers an open stream; the answer unregisters it. */
  attach(machineId: number, listener: StreamListener): () => void {
    if (this.#closed) {
      queueMicrotask(() => listener.stop());
      return () => {};
    }
    let set = this.#streams.get(machineId);
    if (!set) {
      set = new Set();
      this.#streams.set(machineId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.#streams.get(machineId) === set) this.#streams.delete(machineId);
    };
  }

  /** The server is going down: new streams are turned away. */
  get closed(): boolean {
    return this.#closed;
  }

  connected(machineId: number): boolean {
    return (this.#streams.get(machineId)?.size ?? 0) > 0;
  }

  /** How many streams are open. */
  get streams(): number {
    let n = 0;
    for (const set of this.#streams.values()) n += set.size;
    return n;
  }

  /** Ends every stream and stops watching: the server is going down, and open streams would hold it up. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const set of this.#streams.values()) for (const l of [...set]) l.stop();
  }
}
