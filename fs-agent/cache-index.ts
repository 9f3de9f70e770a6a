// The agent's own small database (CACHE_DIR/index.sqlite, WAL): which store paths are unpacked, their size
// and narinfo, when each was last used, and who pinned them. Written only at fetch/evict/pin time and by a
// batched flush of access times — never from inside a FUSE op.
import Database from "better-sqlite3";

export interface CachedPathRow {
  basename: string;
  narSize: number;
  narinfo: string;
  lastAccess: number;
}

export class CacheIndex {
  readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS paths (
        basename TEXT PRIMARY KEY,
        nar_size INTEGER NOT NULL,
        narinfo TEXT NOT NULL,
        last_access INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS pins (
        basename TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (basename, reason)
      );
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
  }

  all(): CachedPathRow[] {
    return this.db
      .prepare("SELECT basename, nar_size AS narSize, narinfo, last_access AS lastAccess FROM paths")
      .all() as CachedPathRow[];
  }

  insert(row: CachedPathRow): void {
    this.db
      .prepare("INSERT OR REPLACE INTO paths (basename, nar_size, narinfo, last_access) VALUES (?, ?, ?, ?)")
      .run(row.basename, row.narSize, row.narinfo, row.lastAccess);
  }

  remove(basename: string): void {
    this.db.prepare("DELETE FROM paths WHERE basename = ?").run(basename);
  }

  touchMany(entries: Iterable<[string, number]>): void {
    const stmt = this.db.prepare("UPDATE paths SET last_access = ? WHERE basename = ?");
    this.db.transaction(() => {
      for (const [b, t] of entries) stmt.run(t, b);
    })();
  }

  pins(): { basename: string; reason: string }[] {
    return this.db.prepare("SELECT basename, reason FROM pins").all() as {
      basename: string;
      reason: string;
    }[];
  }

  pin(basenames: readonly string[], reason: string): void {
    const stmt = this.db.prepare("INSERT OR IGNORE INTO pins (basename, reason) VALUES (?, ?)");
    this.db.transaction(() => {
      for (const b of basenames) stmt.run(b, reason);
    })();
  }

  /** Removes `reason`'s pins (of `basenames` only, when given). */
  unpin(reason: string, basenames?: readonly string[]): void {
    if (!basenames) {
      this.db.prepare("DELETE FROM pins WHERE reason = ?").run(reason);
      return;
    }
    const stmt = this.db.prepare("DELETE FROM pins WHERE reason = ? AND basename = ?");
    this.db.transaction(() => {
      for (const b of basenames) stmt.run(reason, b);
    })();
  }

  getMeta(key: string): string | undefined {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as
      | { value: string }
      | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)").run(key, value);
  }

  close(): void {
    this.db.close();
  }
}
