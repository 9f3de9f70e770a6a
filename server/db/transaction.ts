// One way to run a transaction on either dialect: drizzle's async transaction on PostgreSQL, the gate's
// BEGIN IMMEDIATE … COMMIT on SQLite (server/db/sqlite-gate.ts says what that guarantees).

import { sql } from "drizzle-orm";
import type { Db } from "./open.js";
import { rawRows } from "./raw.js";
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
  // One writer at a time, as on SQLite: PostgreSQL's READ COMMITTED would let two transactions read the same
  // state and both act on it (two channel points for one evaluation). The lock goes with the transaction.
  return withTx.transaction(async (tx) => {
    await rawRows(tx, sql`select pg_advisory_xact_lock(4242014)`);
    return fn(tx);
  });
}
