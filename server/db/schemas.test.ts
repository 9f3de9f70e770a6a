// The SQLite and PostgreSQL schemas, each as its migrations made it in a real database, hold the same tables,
// columns (names, nullability, defaults present), primary keys, indexes and foreign keys.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startPostgres } from "../../testing/postgres.js";
import { openDatabase, openDb } from "./open.js";

interface Shape {
  tables: Record<
    string,
    { columns: string[]; primaryKey: string[]; indexes: string[]; foreignKeys: string[] }
  >;
}

function sqliteShape(file: string): Shape {
  const db = new Database(file, { readonly: true });
  try {
    const shape: Shape = { tables: {} };
    const tables = db
      .prepare(
        "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like '__drizzle%'",
      )
      .all() as { name: string }[];
    for (const { name } of tables) {
      const cols = db.prepare(`pragma table_info("${name}")`).all() as {
        name: string;
        notnull: number;
        dflt_value: string | null;
        pk: number;
      }[];
      const indexes = (
        db.prepare(`pragma index_list("${name}")`).all() as { name: string; unique: number; origin: string }[]
      )
        .filter((i) => i.origin === "c")
        .map((i) => {
          const on = (db.prepare(`pragma index_info("${i.name}")`).all() as { name: string }[]).map(
            (c) => c.name,
          );
          return `${i.name}${i.unique ? " unique" : ""} (${on.join(", ")})`;
        });
      const fks = (
        db.prepare(`pragma foreign_key_list("${name}")`).all() as {
          from: string;
          table: string;
          to: string;
          on_delete: string;
        }[]
      ).map((f) => `${f.from} -> ${f.table}.${f.to} on delete ${f.on_delete.toLowerCase()}`);
      shape.tables[name] = {
        // A primary key is NOT NULL on PostgreSQL whatever it says; SQLite only says so for some.
        columns: cols
          .map(
            (c) =>
              `${c.name}${c.notnull || c.pk ? " not null" : ""}${c.dflt_value !== null ? " default" : ""}`,
          )
          .sort(),
        primaryKey: cols
          .filter((c) => c.pk > 0)
          .sort((a, b) => a.pk - b.pk)
          .map((c) => c.name),
        indexes: indexes.sort(),
        foreignKeys: fks.sort(),
      };
    }
    return shape;
  } finally {
    db.close();
  }
}

async function postgresShape(url: string): Promise<Shape> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const q = async <T>(sql: string) => (await client.query(sql)).rows as T[];
    const shape: Shape = { tables: {} };
    const tables = await q<{ name: string }>(
      "select table_name as name from information_schema.tables where table_schema = 'public' and table_name not like '__drizzle%'",
    );
    for (const { name } of tables) {
      const cols = await q<{ name: string; nullable: string; dflt: string | null; identity: string }>(
        `select column_name as name, is_nullable as nullable, column_default as dflt, is_identity as identity
         from information_schema.columns where table_schema = 'public' and table_name = '${name}'`,
      );
      const pk = await q<{ name: string }>(
        `select a.attname as name from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
         where i.indrelid = '"${name}"'::regclass and i.indisprimary order by array_position(i.indkey, a.attnum)`,
      );
      const indexes = await q<{ name: string; unique: boolean; cols: string[] }>(
        `select c.relname as name, i.indisunique as unique,
           array(select a.attname from unnest(i.indkey) with ordinality k(n, o) join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.n order by k.o)::text[] as cols
         from pg_index i join pg_class c on c.oid = i.indexrelid
         where i.indrelid = '"${name}"'::regclass and not i.indisprimary
           and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid and k.contype = 'u')`,
      );
      const uniques = await q<{ col: string }>(
        `select a.attname as col from pg_constraint k join pg_attribute a on a.attrelid = k.conrelid and a.attnum = any(k.conkey)
         where k.conrelid = '"${name}"'::regclass and k.contype = 'u'`,
      );
      const fks = await q<{ fk: string }>(
        `select a.attname || ' -> ' || rt.relname || '.' || ra.attname || ' on delete ' ||
           case k.confdeltype when 'c' then 'cascade' when 'n' then 'set null' when 'r' then 'restrict' else 'no action' end as fk
         from pg_constraint k
         join pg_attribute a on a.attrelid = k.conrelid and a.attnum = k.conkey[1]
         join pg_class rt on rt.oid = k.confrelid
         join pg_attribute ra on ra.attrelid = k.confrelid and ra.attnum = k.confkey[1]
         where k.conrelid = '"${name}"'::regclass and k.contype = 'f'`,
      );
      shape.tables[name] = {
        columns: cols
          .map(
            (c) =>
              `${c.name}${c.nullable === "NO" ? " not null" : ""}${c.dflt !== null && c.identity !== "YES" ? " default" : ""}`,
          )
          .sort(),
        primaryKey: pk.map((r) => r.name),
        // drizzle writes a column's .unique() as a constraint on PostgreSQL and as an index on SQLite: both count.
        indexes: [
          ...indexes.map((i) => `${i.name}${i.unique ? " unique" : ""} (${i.cols.join(", ")})`),
          ...uniques.map((u) => `${name}_${u.col}_unique unique (${u.col})`),
        ].sort(),
        foreignKeys: fks.map((r) => r.fk).sort(),
      };
    }
    return shape;
  } finally {
    await client.end();
  }
}

test("the SQLite and PostgreSQL migrations make the same tables, columns, keys, indexes and foreign keys", async () => {
  const dir = mkdtempSync(join(tmpdir(), "flox-schemas-"));
  const cluster = await startPostgres();
  try {
    const file = join(dir, "db.sqlite");
    await openDb(file).close();
    const url = cluster.createDatabase("schemas");
    await (await openDatabase(url)).close();
    const lite = sqliteShape(file);
    const post = await postgresShape(url);
    assert.ok(
      Object.keys(lite.tables).length >= 25,
      `only ${Object.keys(lite.tables).length} tables on SQLite`,
    );
    assert.equal(Object.keys(post.tables).sort(), Object.keys(lite.tables).sort());
    for (const name of Object.keys(lite.tables)) assert.equal(post.tables[name], lite.tables[name], name);
  } finally {
    cluster.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
