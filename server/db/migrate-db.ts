// `flox server migrate-db`: copies a stopped server's SQLite database into an empty PostgreSQL one, every table of
// the schema in foreign-key order, then proves the copy by counting each table's rows on both sides.
import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import { count, getTableColumns, getTableName, is, type SQL, sql } from "drizzle-orm";
import { PgTable, getTableConfig as pgTableConfig } from "drizzle-orm/pg-core";
import { SQLiteTable } from "drizzle-orm/sqlite-core";
import { InvalidInputError } from "../errors.js";
import { parseDatabaseUrl } from "./database-url.js";
import { type Db, openDatabase } from "./open.js";
import { rawRows } from "./raw.js";
import * as liteSchema from "./schema.js";
import * as pgSchema from "./schema-pg.js";
import { inTransaction } from "./transaction.js";

/** The copy could not be made or did not check out; the message is the one line to show. */
export class MigrateDbError extends Error {
  override name = "MigrateDbError";
}

interface TablePair {
  name: string;
  lite: SQLiteTable;
  pg: PgTable;
}

export interface TableCount {
  table: string;
  source: number;
  target: number;
}

export interface MigrateDbOptions {
  /** `sqlite:PATH` of the server's database (the server stopped). */
  from: string;
  /** `postgres://…` of an empty database (or any, with `force`). */
  to: string;
  /** Empty the target's tables first (in the copy's transaction) instead of refusing a non-empty target. */
  force?: boolean;
  /** One line of progress at a time. */
  say?: (line: string) => void;
}

/**
 * Every table of the schema, parents before children. Taken from the schema modules themselves, so a table added
 * later is copied without anyone listing it; the two dialects must hold the same tables and columns.
 */
export function tablesInCopyOrder(): TablePair[] {
  const lite = new Map<string, SQLiteTable>();
  for (const v of Object.values(liteSchema)) if (is(v, SQLiteTable)) lite.set(getTableName(v), v);
  const pgs = new Map<string, PgTable>();
  for (const v of Object.values(pgSchema)) if (is(v, PgTable)) pgs.set(getTableName(v), v);
  const onlyLite = [...lite.keys()].filter((n) => !pgs.has(n));
  const onlyPg = [...pgs.keys()].filter((n) => !lite.has(n));
  if (onlyLite.length > 0 || onlyPg.length > 0) {
    throw new MigrateDbError(
      `the SQLite and PostgreSQL schemas hold different tables (only in schema.ts: ${onlyLite.join(", ") || "none"}; only in schema-pg.ts: ${onlyPg.join(", ") || "none"}); this build of flox cannot copy between them`,
    );
  }
  for (const [name, l] of lite) {
    const a = Object.values(getTableColumns(l))
      .map((c) => c.name)
      .sort()
      .join(",");
    const b = Object.values(getTableColumns(pgs.get(name) as PgTable))
      .map((c) => c.name)
      .sort()
      .join(",");
    if (a !== b) {
      throw new MigrateDbError(
        `table ${name} has columns (${a}) on SQLite but (${b}) on PostgreSQL; this build of flox cannot copy it`,
      );
    }
  }
  // Kahn's order over the foreign keys; ties keep the schema's own order.
  const parents = new Map<string, Set<string>>();
  for (const [name, table] of pgs) {
    const refs = pgTableConfig(table).foreignKeys.map((fk) => getTableName(fk.reference().foreignTable));
    parents.set(name, new Set(refs.filter((r) => r !== name)));
  }
  const order: TablePair[] = [];
  const placed = new Set<string>();
  while (placed.size < pgs.size) {
    const ready = [...pgs.keys()].filter(
      (n) => !placed.has(n) && [...(parents.get(n) ?? [])].every((p) => placed.has(p)),
    );
    if (ready.length === 0) {
      const left = [...pgs.keys()].filter((n) => !placed.has(n));
      throw new MigrateDbError(`the foreign keys of ${left.join(", ")} form a cycle; no copy order exists`);
    }
    for (const n of ready) {
      placed.add(n);
      order.push({ name: n, lite: lite.get(n) as SQLiteTable, pg: pgs.get(n) as PgTable });
    }
  }
  return order;
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

async function targetCount(db: Db, table: PgTable): Promise<number> {
  const [row] = await db.select({ n: count() }).from(table);
  return row?.n ?? 0;
}

/** Copies `from` into `to`; answers each table's row counts on both sides, which agree (else it throws). */
export async function migrateDatabase(opts: MigrateDbOptions): Promise<TableCount[]> {
  const say = opts.say ?? (() => {});
  const source = parseDatabaseUrl(opts.from);
  const target = parseDatabaseUrl(opts.to);
  if (source.dialect !== "sqlite") {
    throw new InvalidInputError(`--from ${source.label}: give the SQLite database to copy, sqlite:PATH`);
  }
  if (target.dialect !== "postgres") {
    throw new InvalidInputError(`--to ${target.label}: give the PostgreSQL database to fill, postgres://…`);
  }
  // Opening a missing file would make an empty database and copy nothing.
  if (!existsSync(source.path)) {
    throw new InvalidInputError(
      `--from ${source.label}: no such file; give the server's database (DATA_DIR/db.sqlite by default)`,
    );
  }
  const tables = tablesInCopyOrder();

  // Both brought to this build's schema first: an older server's file gets its missing migrations.
  try {
    await (await openDatabase(opts.from)).close();
  } catch (err) {
    throw new MigrateDbError(
      `cannot open ${source.label}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  let opened: Awaited<ReturnType<typeof openDatabase>>;
  try {
    opened = await openDatabase(opts.to);
  } catch (err) {
    throw new MigrateDbError(
      `cannot open the target database ${target.label}: ${err instanceof Error ? err.message : String(err)}; check that PostgreSQL runs there, that the user may log in and that the database exists (createdb)`,
    );
  }
  const lite = new Database(source.path, { readonly: true });
  try {
    const known = new Set(tables.map((t) => t.name));
    const stray = (
      lite
        .prepare(
          "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '__drizzle%'",
        )
        .all() as { name: string }[]
    )
      .map((r) => r.name)
      .filter((n) => !known.has(n));
    if (stray.length > 0) {
      throw new MigrateDbError(
        `${source.label} holds tables this build of flox does not know (${stray.join(", ")}); migrate with the flox that made it`,
      );
    }

    const db = opened.db;
    const strayPg = (
      await rawRows<{ name: string }>(
        db,
        sql`select table_name as "name" from information_schema.tables where table_schema = current_schema()`,
      )
    )
      .map((r) => r.name)
      .filter((n) => !known.has(n));
    if (strayPg.length > 0) {
      throw new MigrateDbError(
        `${target.label} holds tables this build of flox does not know (${strayPg.join(", ")}); give a database of its own to flox`,
      );
    }
    const filled: string[] = [];
    for (const t of tables) {
      const n = await targetCount(db, t.pg);
      if (n > 0) filled.push(`${t.name}: ${n}`);
    }
    if (filled.length > 0 && !opts.force) {
      throw new MigrateDbError(
        `${target.label} is not empty (${filled.join(", ")} rows); give an empty database (createdb), or --force to delete everything in it first`,
      );
    }

    // One snapshot of the source for the copy and its counts, though the server should be stopped anyway.
    lite.exec("begin");
    const sourceCounts = new Map<string, number>();
    await inTransaction(db, async (tx) => {
      if (filled.length > 0) {
        say(`emptying ${target.label} (--force): ${filled.join(", ")} rows`);
        await rawRows(
          tx,
          sql.raw(`truncate table ${tables.map((t) => quote(t.name)).join(", ")} restart identity`),
        );
      }
      say(`copying ${tables.length} tables from ${source.label}`);
      for (const t of tables) sourceCounts.set(t.name, await copyTable(lite, tx, t));
      await resetSequences(tx);
    });
    lite.exec("commit");

    const counts: TableCount[] = [];
    for (const t of tables) {
      counts.push({
        table: t.name,
        source: sourceCounts.get(t.name) ?? 0,
        target: await targetCount(db, t.pg),
      });
    }
    const differ = counts.filter((c) => c.source !== c.target);
    if (differ.length > 0) {
      throw new MigrateDbError(
        `row counts differ after the copy: ${differ.map((c) => `${c.table} ${c.source} in SQLite, ${c.target} in PostgreSQL`).join("; ")}; was a server still writing to either? Stop it and run again with --force`,
      );
    }
    return counts;
  } finally {
    lite.close();
    await opened.close();
  }
}

/** Streams one table's rows from SQLite into PostgreSQL in batches; answers how many were read. */
async function copyTable(lite: Database.Database, tx: Db, t: TablePair): Promise<number> {
  const columns = Object.entries(getTableColumns(t.lite));
  // PostgreSQL takes at most 65,535 parameters a statement.
  const batchSize = Math.max(1, Math.min(1000, Math.floor(30_000 / columns.length)));
  let batch: Record<string, unknown>[] = [];
  let copied = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await tx.insert(t.pg).values(batch);
    copied += batch.length;
    batch = [];
  };
  // Raw rows through each SQLite column's own reader: 0/1 become booleans and JSON text values, as the PostgreSQL
  // columns (boolean, jsonb) expect; timestamps stay ISO strings, which the timestamptz columns take as they are.
  for (const raw of lite.prepare(`select * from ${quote(t.name)} order by rowid`).iterate()) {
    const row: Record<string, unknown> = {};
    for (const [key, col] of columns) {
      const v = (raw as Record<string, unknown>)[col.name];
      row[key] = v === null || v === undefined ? null : col.mapFromDriverValue(v);
    }
    batch.push(row);
    if (batch.length >= batchSize) await flush();
  }
  await flush();
  return copied;
}

/** Each identity column's next value past the largest id copied, so new rows do not collide with old ones. */
async function resetSequences(tx: Db): Promise<void> {
  const identities = await rawRows<{ table: string; column: string }>(
    tx,
    sql`select table_name as "table", column_name as "column" from information_schema.columns
        where table_schema = 'public' and is_identity = 'YES'`,
  );
  for (const { table, column } of identities) {
    const setval: SQL = sql`select setval(pg_get_serial_sequence(${quote(table)}, ${column}),
      coalesce((select max(${sql.identifier(column)}) from ${sql.identifier(table)}), 0) + 1, false)`;
    await rawRows(tx, setval);
  }
}

/** The command's run: progress and the counts on stdout, a failure as one line on stderr and exit code 1 (2 for bad input). */
export async function runMigrateDbCommand(opts: {
  from: string;
  to: string;
  force?: boolean;
}): Promise<void> {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const counts = await migrateDatabase({ ...opts, say: out });
    const width = Math.max(...counts.map((c) => c.table.length));
    out(`row counts (SQLite → PostgreSQL), all equal:`);
    for (const c of counts) out(`  ${c.table.padEnd(width)}  ${c.source} → ${c.target}`);
    out(`copied ${parseDatabaseUrl(opts.from).label} into ${parseDatabaseUrl(opts.to).label}`);
  } catch (err) {
    if (err instanceof InvalidInputError || err instanceof MigrateDbError) {
      process.stderr.write(`flox server migrate-db: ${(err as Error).message}\n`);
      process.exit(err instanceof InvalidInputError ? 2 : 1);
    }
    throw err;
  }
}
