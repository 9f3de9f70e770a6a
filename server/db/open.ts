// Opens DATA_DIR/db.sqlite and brings its schema up to date before anything else touches it.
import { join } from "node:path";
import Database from "better-sqlite3";
import { type BetterSQLite3Database, drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { projectRoot } from "../../lib/project-root.js";
import * as schema from "./schema.js";

export type Db = BetterSQLite3Database<typeof schema>;
/** What a `db.transaction` callback gets; functions that work inside or outside one take `Db | Tx`. */
export type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

export interface OpenDb {
  db: Db;
  close(): void;
}

/** Opens (creating if needed) `file` and applies every migration in `<projectRoot>/migrations`. */
export function openDb(file: string): OpenDb {
  const sqlite = new Database(file);
  // WAL lets the hooks' readers and the server's writer proceed together; busy_timeout rides out short locks.
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("synchronous = NORMAL");
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder: join(projectRoot, "migrations") });
  return { db, close: () => sqlite.close() };
}

/** The database file inside a data directory. */
export function dbPath(dataDir: string): string {
  return join(dataDir, "db.sqlite");
}
