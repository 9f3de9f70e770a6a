// SQLite transactions for async code: better-sqlite3 runs one connection and cannot take an async callback, so
// BEGIN IMMEDIATE … COMMIT spans awaits, and this gate keeps every other statement of the process out meanwhile.
import { AsyncLocalStorage } from "node:async_hooks";
import type BetterSqlite3 from "better-sqlite3";
import {
  SQLiteDeleteBase,
  SQLiteInsertBase,
  SQLiteSelectBase,
  SQLiteUpdateBase,
} from "drizzle-orm/sqlite-core";

/**
 * The guarantee: between a transaction's BEGIN and its COMMIT (or ROLLBACK) no statement of anyone else runs on the
 * connection. Other transactions queue on the mutex; a lone statement issued from outside the transaction (another
 * request, a timer) waits until it ends, then runs on its own (autocommit). Statements of the transaction itself
 * (its async context, AsyncLocalStorage) run at once, and a transaction begun inside one joins it.
 */
export class SqliteGate {
  readonly #client: BetterSqlite3.Database;
  readonly #context = new AsyncLocalStorage<symbol>();
  #holder: symbol | undefined;
  #tail: Promise<void> = Promise.resolve();

  constructor(client: BetterSqlite3.Database) {
    this.#client = client;
    gates.set(client, this);
  }

  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#holder !== undefined && this.#context.getStore() === this.#holder) return fn();
    const release = await this.#acquire();
    const token = Symbol("transaction");
    this.#holder = token;
    try {
      this.#client.exec("BEGIN IMMEDIATE");
      const result = await this.#context.run(token, fn);
      this.#client.exec("COMMIT");
      return result;
    } catch (err) {
      if (this.#client.inTransaction) this.#client.exec("ROLLBACK");
      throw err;
    } finally {
      this.#holder = undefined;
      release();
    }
  }

  /** Undefined when a statement from the current context may run now; else resolves once it may. */
  admit(): Promise<void> | undefined {
    if (this.#holder === undefined || this.#context.getStore() === this.#holder) return undefined;
    // Take the mutex and give it straight back: the statement then runs synchronously before any waiter resumes.
    return this.#acquire().then((release) => release());
  }

  #acquire(): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const before = this.#tail;
    this.#tail = before.then(() => mine);
    return before.then(() => release);
  }
}

const gates = new WeakMap<object, SqliteGate>();

/** Every drizzle SQLite statement passes its connection's gate before it runs (patched once, at load). */
function gateExecute(proto: { execute: (...args: unknown[]) => unknown }): void {
  const original = proto.execute;
  proto.execute = function (this: { session?: { client?: object } }, ...args: unknown[]) {
    const client = this.session?.client;
    const wait = client ? gates.get(client)?.admit() : undefined;
    if (!wait) return original.apply(this, args);
    return wait.then(() => original.apply(this, args));
  };
}

for (const cls of [SQLiteSelectBase, SQLiteInsertBase, SQLiteUpdateBase, SQLiteDeleteBase]) {
  gateExecute(cls.prototype as unknown as { execute: (...args: unknown[]) => unknown });
}
