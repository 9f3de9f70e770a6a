// The background NAR check: re-hashes NAR files and quarantines the ones that no longer match their name.
import { createHash } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { asc, eq, sql } from "drizzle-orm";
import { encodeNix32 } from "../../lib/nix32.js";
import type { Db } from "../db/open.js";
import { cachePaths } from "../db/tables.js";
import type { KeyedMutex } from "../git/keyed-mutex.js";
import { listingKey, listingSigKey, narKey, quarantineKey } from "./layout.js";
import { narFileHash } from "./names.js";
import { narLockKey } from "./nar-lock.js";
import type { ObjectStore } from "./objects/object-store.js";

/** What the check needs of the Storehouse (store.ts). */
export interface QuarantineStore {
  readonly db: Db;
  readonly locks: KeyedMutex;
  readonly objects: ObjectStore;
  /** Deletes the narinfo file and keeps the in-memory copy from coming back. */
  removeNarinfo(hash: string): Promise<void>;
}

/**
 * Re-hashes NAR files against the hash their name (the narinfo's FileHash) carries, the never-checked first, then
 * the longest unchecked, until `budgetBytes` were read (at least one file). A file that does not match, or is
 * gone, is quarantined: its paths stop being served. Disk rot or a hand edit must never reach a client or a CDN
 * as bytes signed and marked immutable.
 */
export async function verifyNars(
  s: QuarantineStore,
  budgetBytes: number,
): Promise<{ checked: number; quarantined: QuarantinedNar[] }> {
  const order = await s.db
    .select({ narFile: cachePaths.narFile, fileSize: sql<number>`max(${cachePaths.fileSize})` })
    .from(cachePaths)
    .groupBy(cachePaths.narFile)
    .orderBy(
      asc(sql`min(coalesce(${cachePaths.verifiedAt}, '1970-01-01T00:00:00.000Z'))`),
      asc(cachePaths.narFile),
    );
  let read = 0;
  let checked = 0;
  const quarantined: QuarantinedNar[] = [];
  for (const { narFile, fileSize } of order) {
    if (checked > 0 && read + fileSize > budgetBytes) break;
    read += fileSize;
    checked++;
    const name = narFile.replace(/^nar\//, "");
    let reason: string | undefined;
    const actual = await objectSha256(s.objects, narKey(name));
    if (actual === undefined) reason = "the file is missing";
    else if (actual !== narFileHash(name))
      reason = `its sha256 is ${actual}, its name says ${narFileHash(name)}`;
    if (reason) quarantined.push(await quarantine(s, narFile, reason));
    else
      await s.db
        .update(cachePaths)
        .set({ verifiedAt: new Date().toISOString() })
        .where(eq(cachePaths.narFile, narFile));
  }
  return { checked, quarantined };
}

/**
 * Moves a bad NAR file to quarantine/ (in the same object store) and takes every path naming it out: no row (so reference checks and the
 * build queue see it missing, and a builder may upload it again), no narinfo, no listing.
 */
async function quarantine(s: QuarantineStore, narFile: string, reason: string): Promise<QuarantinedNar> {
  const name = narFile.replace(/^nar\//, "");
  const release = await s.locks.acquire(narLockKey(narFile));
  try {
    if (await s.objects.head(narKey(name))) await s.objects.move(narKey(name), quarantineKey(name));
    const rows = await s.db.select().from(cachePaths).where(eq(cachePaths.narFile, narFile));
    for (const row of rows) {
      // The narinfo first: from here on the path answers 404, whatever happens to the rest.
      await s.removeNarinfo(row.hash);
      await s.objects.delete(listingKey(row.hash));
      await s.objects.delete(listingSigKey(row.hash));
    }
    await s.db.delete(cachePaths).where(eq(cachePaths.narFile, narFile));
    return { narFile, storePaths: rows.map((r) => r.storePath), reason };
  } finally {
    release();
  }
}

/** A NAR file that no longer hashes to its name (or is gone), taken out of the Storehouse. */
export interface QuarantinedNar {
  narFile: string;
  storePaths: string[];
  reason: string;
}

/** The nix32 sha256 of an object's bytes, streamed; undefined when it is gone. */
async function objectSha256(objects: ObjectStore, key: string): Promise<string | undefined> {
  const got = await objects.get(key);
  if (!got) return undefined;
  const h = createHash("sha256");
  await pipeline(got.body, h);
  return encodeNix32(h.digest());
}
