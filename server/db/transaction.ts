// One way to run a transaction on either dialect: drizzle's async transaction on PostgreSQL, the gate's
// BEGIN IMMEDIATE … COMMIT on SQLite (server/db/sqlite-gate.ts says what that guarantees).
import type { Db } from "./open.js";
import { dialectOf } from "./registry.js";

/**
 * Runs `fn` in one transaction: all of its writes land, or none. `fn` must use the `tx` it is given (on
 * PostgreSQL another connection would wait on this transaction's locks). Called with a transaction, it nests
 * (a savepoint on PostgreSQL; on SQLite it joins the outer one).
 */
export async function inTransaction<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  const how = dialectOf(db);
  if (how.gate) return how.gate.transaction(() => fn(db));
  const withTx = db as unknown as { transaction(f: (tx: Db) => Promise<T>): Promise<T> };
  return withTx.transaction(fn);
}
