// The orphan sweep: objects no accepted path references (NARs, narinfos and listings of refused or cut-off uploads)
// and temporary uploads, deleted once they are old enough. The database is the truth; the store only holds bytes.
import { eq } from "drizzle-orm";
import type { Db } from "../db/open.js";
import { cachePaths } from "../db/tables.js";
import type { KeyedMutex } from "../git/keyed-mutex.js";
import { narKey, TMP_PREFIX } from "./layout.js";
import { narLockKey } from "./nar-lock.js";
import type { ObjectStore } from "./objects/object-store.js";

/** What the sweep needs of the Storehouse (store.ts). */
export interface OrphanStore {
  readonly db: Db;
  readonly locks: KeyedMutex;
  readonly objects: ObjectStore;
}

export interface SweepResult {
  /** NAR file names (under nar/). */
  nars: string[];
  /** Temporary uploads (under tmp/), finished or not (a bucket's multipart upload cut off by a kill). */
  tmp: string[];
  /** narinfo/ and ls/ objects of paths with no row: a server stopped between writing them and recording the path. */
  unreferenced: string[];
}

async function namedNars(db: Db): Promise<Set<string>> {
  const rows = await db.select({ f: cachePaths.narFile }).from(cachePaths);
  return new Set(rows.map((r) => r.f));
}

async function knownHashes(db: Db): Promise<Set<string>> {
  const rows = await db.select({ h: cachePaths.hash }).from(cachePaths);
  return new Set(rows.map((r) => r.h));
}

/** NAR files no accepted narinfo names: left by uploads that failed or were refused, safe to delete. */
export async function orphanNars(s: OrphanStore): Promise<string[]> {
  const used = await namedNars(s.db);
  const out: string[] = [];
  for await (const o of s.objects.list("nar/")) {
    const name = o.key.slice("nar/".length);
    if (!used.has(`nar/${name}`)) out.push(name);
  }
  return out;
}

/**
 * Deletes what no accepted path references (a refused narinfo's NAR, an upload given up, a path whose row never
 * got written) and the temporary uploads (a bucket's unfinished multipart ones too: a server killed mid-upload
 * leaves those, unlisted and never aborted), each only when untouched for `graceMs`: a NAR whose narinfo is still
 * on its way is younger than that (a re-upload of an existing NAR refreshes its time), and a temporary upload is
 * written in one go.
 */
export async function sweepOrphans(s: OrphanStore, graceMs: number): Promise<SweepResult> {
  const before = Date.now() - graceMs;
  const used = await namedNars(s.db);
  const nars: string[] = [];
  for await (const o of s.objects.list("nar/")) {
    const name = o.key.slice("nar/".length);
    if (used.has(`nar/${name}`) || o.modified.getTime() > before) continue;
    const release = await s.locks.acquire(narLockKey(`nar/${name}`));
    try {
      // Looked at again under the lock: a narinfo naming it may have been accepted since the list was made.
      const named = await s.db
        .select({ h: cachePaths.hash })
        .from(cachePaths)
        .where(eq(cachePaths.narFile, `nar/${name}`))
        .limit(1);
      const now = await s.objects.head(narKey(name));
      if (named.length > 0 || !now || now.modified.getTime() > before) continue;
      await s.objects.delete(narKey(name));
      nars.push(name);
    } finally {
      release();
    }
  }
  const tmp: string[] = [];
  for await (const o of s.objects.list(TMP_PREFIX)) {
    if (o.modified.getTime() > before) continue;
    await s.objects.delete(o.key);
    tmp.push(o.key.slice(TMP_PREFIX.length));
  }
  for (const key of await s.objects.discardUnfinished(TMP_PREFIX, new Date(before)))
    tmp.push(key.slice(TMP_PREFIX.length));
  const unreferenced: string[] = [];
  const hashes = await knownHashes(s.db);
  for (const folder of ["narinfo/", "ls/"]) {
    for await (const o of s.objects.list(folder)) {
      const hash = o.key.slice(folder.length).replace(/\..*$/, "");
      if (hashes.has(hash) || o.modified.getTime() > before) continue;
      // A path accepted since the list was made wrote these just now, so they are younger than the grace.
      await s.objects.delete(o.key);
      unreferenced.push(o.key);
    }
  }
  return { nars, tmp, unreferenced };
}
