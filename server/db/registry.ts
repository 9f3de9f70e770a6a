// Which dialect drives each open database, so that the few dialect-specific helpers (transactions, raw SQL) pick
// the right path from the `Db` alone.
import type { SqliteGate } from "./sqlite-gate.js";
import type { Dialect } from "./tables.js";

export interface Registered {
  dialect: Dialect;
  gate?: SqliteGate;
}

const databases = new WeakMap<object, Registered>();

/** Called by openDatabase for each database it opens. */
export function registerDatabase(db: object, how: Registered): void {
  databases.set(db, how);
}

/** How `db` is driven; a PostgreSQL transaction object (never registered) counts as PostgreSQL. */
export function dialectOf(db: object): Registered {
  return databases.get(db) ?? { dialect: "postgres" };
}
