// Every deletion GC makes of a stored object (narinfo, listing, NAR, build log, channel tarball) goes through here,
// and nowhere else: all of them are in the object store (`--nar-store`, file: or s3:), under layout.ts's keys.
import { listingKey, listingSigKey, narKey } from "../layout.js";
import type { ObjectStore } from "../objects/object-store.js";

/** What deleting a path's objects needs of the Storehouse (store.ts). */
export interface StoredObjects {
  readonly objects: ObjectStore;
  /** Deletes the narinfo and keeps the in-memory copy from coming back. */
  removeNarinfo(hash: string): Promise<void>;
}

/** The objects stored under `<prefix><id>/…` (build logs' pieces, channel points' tarballs), by id. */
export interface StoredGroup {
  keys: string[];
  bytes: number;
}

/** The narinfo first (from then on the path answers 404), then its listing and the listing's signature. */
export async function deletePathObjects(s: StoredObjects, hash: string): Promise<void> {
  await s.removeNarinfo(hash);
  await s.objects.delete(listingKey(hash));
  await s.objects.delete(listingSigKey(hash));
}

/** A NAR (`nar/<file>` as the narinfo's URL says); the bytes it freed, 0 when it was gone already. */
export async function deleteNarObject(s: StoredObjects, narFile: string): Promise<number> {
  const key = narKey(narFile.replace(/^nar\//, ""));
  const bytes = (await s.objects.head(key))?.size ?? 0;
  await s.objects.delete(key);
  return bytes;
}

/** One listing of `prefix`, grouped by the numeric folder under it; anything else there is not ours and is left. */
async function listGroups(objects: ObjectStore, prefix: string): Promise<Map<number, StoredGroup>> {
  const out = new Map<number, StoredGroup>();
  for await (const o of objects.list(prefix)) {
    const m = /^([0-9]+)\//.exec(o.key.slice(prefix.length));
    if (!m) continue;
    const id = Number(m[1]);
    const group = out.get(id) ?? { keys: [], bytes: 0 };
    group.keys.push(o.key);
    group.bytes += o.size;
    out.set(id, group);
  }
  return out;
}

/** The builds that have a log: its pieces `logs/<build>/<offset>` (server/builds/build-log.ts) and their bytes. */
export function listBuildLogObjects(objects: ObjectStore): Promise<Map<number, StoredGroup>> {
  return listGroups(objects, "logs/");
}

/** The channel points that have tarballs made: `channels/<point>/…` (server/channels/tarball.ts). */
export function listChannelTarballObjects(objects: ObjectStore): Promise<Map<number, StoredGroup>> {
  return listGroups(objects, "channels/");
}

/**
 * Deletes a listed group (a build's log pieces, a point's tarballs); the bytes freed. A tarball's `.sha256` goes
 * first: its presence is what says the tarball is whole (server/channels/tarball.ts).
 */
export async function deleteGroupObjects(objects: ObjectStore, group: StoredGroup): Promise<number> {
  const keys = [...group.keys].sort((a, b) => Number(b.endsWith(".sha256")) - Number(a.endsWith(".sha256")));
  for (const key of keys) await objects.delete(key);
  return group.bytes;
}
