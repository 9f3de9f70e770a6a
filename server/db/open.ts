// Opens the server's database, SQLite (the default, a file in DATA_DIR) or PostgreSQL (a URL), and brings its
// schema up to date before anything else touches it. Everything past this file writes one query text for both.
import { join } from "node:path";
import Database from "better-sqlite3";
import { drizzle as drizzleSqlite } from "drizzle-orm/better-sqlite3";
import { migrate as migrateSqlite } from "drizzle-orm/better-sqlite3/migrator";
import { drizzle as drizzlePg, type NodePgDatabase } from "drizzle-orm/node-postgres";
import { migrate as migratePg } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import type { Logger } from "pino";
import { projectRoot } from "../../lib/project-root.js";
import { parseDatabaseUrl } from "./database-url.js";
import { registerDatabase } from "./registry.js";
import * as liteSchema from "./schema.js";
import * as pgSchema from "./schema-pg.js";
import { PostgresServerLocks, type ServerLocks } from "./server-locks.js";
import { Signals } from "./signals.js";
import { SqliteGate } from "./sqlite-gate.js";
import { type Dialect, useDialect } from "./tables.js";
import { markDatabaseErrors } from "./unavailable.js";

/**
 * What queries are written against: drizzle's PostgreSQL surface, minus what only one driver has. Transactions go
 * through `inTransaction` (server/db/transaction.ts), raw SQL through server/db/raw.ts.
 */
export type Db = Omit<
  NodePgDatabase<typeof pgSchema>,
  "transaction" | "execute" | "query" | "$count" | "$client"
>;
/** Kept for the functions that work inside or outside a transaction: a transaction is a `Db` too. */
export type Tx = Db;

export interface OpenDb {
  db: Db;
  dialect: Dialect;
  /** The URL opened, with any password hidden: safe to log. */
  label: string;
  /** Wake-ups: this process only on SQLite; every server on the database through LISTEN/NOTIFY on PostgreSQL. */
  signals: Signals;
  /** Several servers on one PostgreSQL: who leads, who runs what. Absent on SQLite (one server holds it all). */
  locks?: ServerLocks;
  close(): Promise<void>;
}

/** PostgreSQL's int8 (count(*), bigint columns) and numeric (sum) arrive as numbers, as on SQLite. */
const pgTypes = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 || oid === 1700
      ? Number
      : pg.types.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
};

/** Opens `url` (`sqlite:PATH` or `postgres://…`) and applies its dialect's migrations. */
export async function openDatabase(url: string, logger?: Logger): Promise<OpenDb> {
  const target = parseDatabaseUrl(url);
  if (target.dialect === "sqlite") return openDb(target.path);
  const pool = new pg.Pool({ connectionString: target.url, types: pgTypes, max: 10 });
  // An idle connection the server dropped (a restart) must not crash the process: the pool opens a new one.
  pool.on("error", () => {});
  // So must a connection that is checked out when PostgreSQL goes (in a transaction between two statements, or
  // holding a push lock): the pool listens only to idle ones, and an 'error' nobody hears ends the process. Its
  // query fails on its own, and a broken connection is dropped when it is released.
  pool.on("connect", (client) => client.on("error", () => {}));
  markDatabaseErrors(pool);
  try {
    const client = await pool.connect();
    try {
      // Two servers starting together: the second waits here, then finds nothing left to apply.
      await client.query("select pg_advisory_lock(4242013)");
      try {
        await migratePg(drizzlePg(client), { migrationsFolder: join(projectRoot, "migrations", "postgres") });
      } finally {
        await client.query("select pg_advisory_unlock(4242013)");
      }
    } finally {
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  const db = drizzlePg(pool, { schema: pgSchema });
  useDialect("postgres");
  registerDatabase(db, { dialect: "postgres" });
  const signals = new Signals();
  const stopSignals = signals.crossServers(pool, target.url, logger);
  const locks = new PostgresServerLocks(pool, target.url, logger);
  return {
    db: db as unknown as Db,
    dialect: "postgres",
    label: target.label,
    signals,
    locks,
    close: async () => {
      await stopSignals();
      await locks.close();
      await pool.end();
    },
  };
}

/** Opens (creating if needed) the SQLite file and applies every migration in `<projectRoot>/migrations/sqlite`. */
export function openDb(file: string): OpenDb {
  const sqlite = new Database(file);
  // WAL lets readers (a `sqlite3` shell, the tests' looks) and the server's writer proceed together.
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("synchronous = NORMAL");
  const db = drizzleSqlite(sqlite, { schema: liteSchema });
  migrateSqlite(db, { migrationsFolder: join(projectRoot, "migrations", "sqlite") });
  useDialect("sqlite");
  registerDatabase(db, { dialect: "sqlite", gate: new SqliteGate(sqlite) });
  return {
    db: db as unknown as Db,
    dialect: "sqlite",
    label: `sqlite:${file}`,
    signals: new Signals(),
    close: async () => {
      sqlite.close();
    },
  };
}

/** The database file inside a data directory. */
export function dbPath(dataDir: string): string {
  return join(dataDir, "db.sqlite");
}
