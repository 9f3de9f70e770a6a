// The database schema: the one source of truth for server state. Migrations come from `npm run db:generate`.
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

// Times are ISO 8601 strings: readable in the sqlite3 shell and already in the API's format.
const now = sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`;

export const orgs = sqliteTable("orgs", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  displayName: text("display_name").notNull(),
  createdAt: text("created_at").notNull().default(now),
});

export const users = sqliteTable("users", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  createdAt: text("created_at").notNull().default(now),
});

export const memberships = sqliteTable(
  "memberships",
  {
    orgId: integer("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    role: text("role", { enum: ["owner", "member", "reader"] }).notNull(),
    createdAt: text("created_at").notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.userId] }), index("memberships_user_idx").on(t.userId)],
);

export const tokens = sqliteTable(
  "tokens",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** sha256 hex of the secret; the secret itself is never stored. */
    hash: text("hash").notNull(),
    scope: text("scope", { enum: ["admin", "org", "user", "builder", "machine"] }).notNull(),
    orgId: integer("org_id").references(() => orgs.id, { onDelete: "cascade" }),
    role: text("role", { enum: ["owner", "member", "reader"] }),
    userId: integer("user_id").references(() => users.id, { onDelete: "cascade" }),
    name: text("name"),
    prefix: text("prefix").notNull(),
    createdAt: text("created_at").notNull().default(now),
    lastUsedAt: text("last_used_at"),
    revokedAt: text("revoked_at"),
  },
  (t) => [uniqueIndex("tokens_hash_idx").on(t.hash), index("tokens_org_idx").on(t.orgId)],
);

export const pushes = sqliteTable(
  "pushes",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    orgId: integer("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    ref: text("ref").notNull(),
    oldSha: text("old_sha").notNull(),
    newSha: text("new_sha").notNull(),
    pushOptions: text("push_options", { mode: "json" }).$type<string[]>().notNull(),
    source: text("source", { enum: ["hook", "reconciled"] }).notNull(),
    receivedAt: text("received_at").notNull().default(now),
  },
  (t) => [
    index("pushes_org_time_idx").on(t.orgId, t.receivedAt),
    index("pushes_org_ref_time_idx").on(t.orgId, t.ref, t.receivedAt),
  ],
);

/**
 * The Storehouse's index: one row per store path whose narinfo was verified and accepted. The narinfo and
 * NAR files live under DATA_DIR/store/; a NAR file no row names is an orphan, safe to collect.
 */
export const cachePaths = sqliteTable(
  "cache_paths",
  {
    /** The 32 nix32 characters of the store path: the narinfo's name. */
    hash: text("hash").primaryKey(),
    storePath: text("store_path").notNull(),
    /** `nar/<filehash>.nar[.ext]`, relative to the cache root, as the narinfo's URL says. */
    narFile: text("nar_file").notNull(),
    narHash: text("nar_hash").notNull(),
    narSize: integer("nar_size").notNull(),
    fileSize: integer("file_size").notNull(),
    compression: text("compression").notNull(),
    /** Basenames, sorted. */
    references: text("references", { mode: "json" }).$type<string[]>().notNull(),
    deriver: text("deriver"),
    ca: text("ca"),
    createdAt: text("created_at").notNull().default(now),
  },
  (t) => [index("cache_paths_nar_file_idx").on(t.narFile)],
);
