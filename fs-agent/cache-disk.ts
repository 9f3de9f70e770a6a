// The store cache's directories on disk (store/, files/, trash/) and making them agree with the index
// after a crash: the index is the truth, so whatever it does not record goes.
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { removeReadOnlyTree } from "../lib/nar-unpack.js";
import type { CachedPathRow, CacheIndex } from "./cache-index.js";

/** Keys of single files in the index and the maps; a store path basename never has a slash. */
export const FILE_KEY = "files/";

/**
 * Removes from the disk what the index does not record and from the index what the disk lacks; `keep` is
 * called for each row that is on both.
 */
export async function reconcileWithDisk(
  index: CacheIndex,
  storeDir: string,
  filesDir: string,
  keep: (basename: string, row: CachedPathRow) => void,
): Promise<void> {
  const rows = new Map(index.all().map((r) => [r.basename, r]));
  const onDisk = new Set(await readdir(storeDir));
  for (const name of onDisk) {
    // Half-made fetches (temp dirs) and dirs renamed in but never recorded: the index is the truth.
    if (!rows.has(name)) await removeReadOnlyTree(join(storeDir, name));
  }
  for (const name of await readdir(filesDir)) {
    if (rows.has(`${FILE_KEY}${name}`)) onDisk.add(`${FILE_KEY}${name}`);
    else await rm(join(filesDir, name), { force: true });
  }
  for (const [b, row] of rows) {
    if (!onDisk.has(b)) {
      index.remove(b);
      continue;
    }
    keep(b, row);
  }
}

/** What evictions left in the trash when the agent stopped. */
export async function emptyTrash(trashDir: string): Promise<void> {
  for (const name of await readdir(trashDir).catch(() => [])) {
    await removeReadOnlyTree(join(trashDir, name)).catch(() => {});
  }
}
