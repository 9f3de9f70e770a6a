// The deletion journal: a path's entry is written before its row goes and removed once its files are gone, so a
// GC killed at any moment is finished by the next start and never leaves a narinfo without its NAR.
import { eq, inArray } from "drizzle-orm";
import type { Db } from "../../db/open.js";
import { cachePaths, gcJournal } from "../../db/tables.js";
import type { KeyedMutex } from "../../git/keyed-mutex.js";
import { narLockKey } from "../nar-lock.js";
import { deleteNarObject, deletePathObjects, type StoredObjects } from "./delete-objects.js";

/** What finishing a deletion needs of the Storehouse. */
export interface JournalStore extends StoredObjects {
  readonly db: Db;
  readonly locks: KeyedMutex;
}

export interface JournalEntry {
  hash: string;
  narFile: string;
}

export async function journalAdd(db: Db, runId: number, entries: JournalEntry[]): Promise<void> {
  if (entries.length > 0)
    await db
      .insert(gcJournal)
      .values(entries.map((e) => ({ ...e, runId })))
      .onConflictDoNothing();
}

/**
 * Deletes the files of a path whose row is gone: the narinfo and listing under the path's lock (a re-upload that
 * made a new row meanwhile keeps its files), then the NAR under its lock when no row names it any more. Returns
 * the NAR bytes freed (0 when another path still uses the NAR file).
 */
export async function finishDeletion(s: JournalStore, entry: JournalEntry): Promise<number> {
  let freed = 0;
  const release = await s.locks.acquire(entry.hash);
  try {
    const [again] = await s.db
      .select({ h: cachePaths.hash })
      .from(cachePaths)
      .where(eq(cachePaths.hash, entry.hash));
    if (!again) await deletePathObjects(s, entry.hash);
  } finally {
    release();
  }
  const releaseNar = await s.locks.acquire(narLockKey(entry.narFile));
  try {
    const [named] = await s.db
      .select({ h: cachePaths.hash })
      .from(cachePaths)
      .where(eq(cachePaths.narFile, entry.narFile))
      .limit(1);
    if (!named) freed = await deleteNarObject(s, entry.narFile);
  } finally {
    releaseNar();
  }
  await s.db.delete(gcJournal).where(eq(gcJournal.hash, entry.hash));
  return freed;
}

/**
 * Finishes what a killed GC left: entries whose row is gone lose their files; entries whose row still exists were
 * never decided for good (the kill came between journal and row) and are dropped, for the next run to decide.
 */
export async function replayJournal(s: JournalStore): Promise<{ finished: number; dropped: number }> {
  const entries = await s.db.select().from(gcJournal);
  if (entries.length === 0) return { finished: 0, dropped: 0 };
  const present = new Set<string>();
  for (let i = 0; i < entries.length; i += 500) {
    const hashes = entries.slice(i, i + 500).map((e) => e.hash);
    const rows = await s.db
      .select({ h: cachePaths.hash })
      .from(cachePaths)
      .where(inArray(cachePaths.hash, hashes));
    for (const r of rows) present.add(r.h);
  }
  let finished = 0;
  let dropped = 0;
  for (const e of entries) {
    if (present.has(e.hash)) {
      await s.db.delete(gcJournal).where(eq(gcJournal.hash, e.hash));
      dropped++;
    } else {
      await finishDeletion(s, e);
      finished++;
    }
  }
  return { finished, dropped };
}
