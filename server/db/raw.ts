// Raw SQL for the few queries drizzle's builders cannot say (recursive CTEs, window functions): the drivers
// answer rows differently, these give both the same shape. Alias every column in double quotes ("newSha").
import type { SQL } from "drizzle-orm";
import type { Db } from "./open.js";
import { dialectOf } from "./registry.js";

interface SqliteRaw {
  all<T>(query: SQL): T[];
  run(query: SQL): unknown;
}
interface PgRaw {
  execute(query: SQL): Promise<{ rows: unknown[] }>;
}

/** Every row `query` answers. */
export async function rawRows<T>(db: Db, query: SQL): Promise<T[]> {
  const how = dialectOf(db);
  if (how.dialect === "sqlite") {
    await how.gate?.admit();
    return (db as unknown as SqliteRaw).all<T>(query);
  }
  return (await (db as unknown as PgRaw).execute(query)).rows as T[];
}

/** The first row `query` answers, or undefined. */
export async function rawRow<T>(db: Db, query: SQL): Promise<T | undefined> {
  return (await rawRows<T>(db, query))[0];
}

/** The first row of an awaited query, for lookups by key: `await db.select()….then(first)`. */
export function first<T>(rows: readonly T[]): T | undefined {
  return rows[0];
}

/** The row an insert's `.returning()` gave back, which is always there: `await db.insert(…).returning().then(one)`. */
export function one<T>(rows: readonly T[]): T {
  const row = rows[0];
  if (row === undefined) throw new Error("the database returned no row where it always returns one");
  return row;
}
