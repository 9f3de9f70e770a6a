// The orphan sweep: NAR files no accepted narinfo names, and temp files, deleted once they are old enough.
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import type { Db } from "../db/open.js";
import { first } from "../db/raw.js";
import { cachePaths } from "../db/tables.js";
import type { KeyedMutex } from "../git/keyed-mutex.js";
import { narLockKey } from "./nar-lock.js";

/** What the sweep needs of the Storehouse (store.ts). */
export interface OrphanStore {
  readonly db: Db;
  readonly locks: KeyedMutex;
  readonly narDir: string;
  readonly tmpDir: string;
  narPath(name: string): string;
}

/** NAR files no accepted narinfo names: left by uploads that failed or were refused, safe to delete. */
export async function orphanNars(s: OrphanStore): Promise<string[]> {
  const used = new Set((await s.db.select({ f: cachePaths.narFile }).from(cachePaths)).map((r) => r.f));
  return (await readdir(s.narDir)).filter((f) => !used.has(`nar/${f}`));
}

/**
 * Deletes the NAR files no accepted narinfo names (a refused narinfo's, an upload given up) and the temp files,
 * each only when untouched for `graceMs`: a NAR whose narinfo is still on its way is younger than that (a
 * re-upload of an existing NAR refreshes its time), and a temp file being written is touched with every chunk.
 */
export async function sweepOrphans(
  s: OrphanStore,
  graceMs: number,
): Promise<{ nars: string[]; tmp: string[] }> {
  const before = Date.now() - graceMs;
  const old = async (file: string) => {
    try {
      return (await stat(file)).mtimeMs <= before;
    } catch {
      return false; // gone meanwhile
    }
  };
  const nars: string[] = [];
  for (const name of await orphanNars(s)) {
    const release = await s.locks.acquire(narLockKey(`nar/${name}`));
    try {
      // Looked at again under the lock: a narinfo naming it may have been accepted since the list was made.
      const named = await s.db
        .select({ h: cachePaths.hash })
        .from(cachePaths)
        .where(eq(cachePaths.narFile, `nar/${name}`))
        .then(first);
      if (named || !(await old(s.narPath(name)))) continue;
      await rm(s.narPath(name), { force: true });
      nars.push(name);
    } finally {
      release();
    }
  }
  const tmp: string[] = [];
  for (const name of await readdir(s.tmpDir)) {
    if (!(await old(join(s.tmpDir, name)))) continue;
    await rm(join(s.tmpDir, name), { recursive: true, force: true });
    tmp.push(name);
  }
  return { nars, tmp };
}
