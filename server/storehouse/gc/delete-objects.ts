// Every deletion GC makes of a stored object (narinfo, listing, NAR, build log, channel tarball) goes through here,
// and nowhere else: one narrow place to point at another storage backend (file:, s3:).
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";

/** What deleting a path's files needs of the Storehouse (store.ts). */
export interface StoredObjects {
  /** Deletes the narinfo file and keeps the in-memory copy from coming back. */
  removeNarinfo(hash: string): Promise<void>;
  listingPath(hash: string): string;
  listingSigPath(hash: string): string;
  narPath(name: string): string;
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** The narinfo first (from then on the path answers 404), then its listing and the listing's signature. */
export async function deletePathObjects(s: StoredObjects, hash: string): Promise<void> {
  await s.removeNarinfo(hash);
  await rm(s.listingPath(hash), { force: true });
  await rm(s.listingSigPath(hash), { force: true });
}

/** A NAR file (`nar/<file>` as the narinfo's URL says); the bytes it freed, 0 when it was gone already. */
export async function deleteNarObject(s: StoredObjects, narFile: string): Promise<number> {
  const file = s.narPath(narFile.replace(/^nar\//, ""));
  const bytes = await sizeOf(file);
  await rm(file, { force: true });
  return bytes;
}

/** `DATA_DIR/logs/<id>.log`; the bytes freed. */
export async function deleteBuildLogObject(logsDir: string, buildId: number): Promise<number> {
  const file = join(logsDir, `${buildId}.log`);
  const bytes = await sizeOf(file);
  await rm(file, { force: true });
  return bytes;
}

/** The build ids that have a log file (server.log and anything else is not one). */
export async function listBuildLogObjects(logsDir: string): Promise<number[]> {
  const names = await readdir(logsDir).catch(() => [] as string[]);
  return names.flatMap((n) => (/^[0-9]+\.log$/.test(n) ? [Number(n.slice(0, -4))] : []));
}

/** `DATA_DIR/channels/<point>/` (its .tar.xz and .tar.bz2); the bytes freed. */
export async function deleteChannelTarballObjects(channelsDir: string, pointId: number): Promise<number> {
  const dir = join(channelsDir, String(pointId));
  const names = await readdir(dir).catch(() => [] as string[]);
  let bytes = 0;
  for (const n of names) bytes += await sizeOf(join(dir, n));
  await rm(dir, { recursive: true, force: true });
  return bytes;
}

/** The channel points that have tarballs made. */
export async function listChannelTarballObjects(channelsDir: string): Promise<number[]> {
  const names = await readdir(channelsDir).catch(() => [] as string[]);
  return names.flatMap((n) => (/^[0-9]+$/.test(n) ? [Number(n)] : []));
}

/** A build log's bytes, for a dry run. */
export function buildLogBytes(logsDir: string, buildId: number): Promise<number> {
  return sizeOf(join(logsDir, `${buildId}.log`));
}

/** A channel point's tarballs' bytes, for a dry run. */
export async function channelTarballBytes(channelsDir: string, pointId: number): Promise<number> {
  const dir = join(channelsDir, String(pointId));
  let bytes = 0;
  for (const n of await readdir(dir).catch(() => [] as string[])) bytes += await sizeOf(join(dir, n));
  return bytes;
}
