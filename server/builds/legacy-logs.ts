// Build logs written before they moved into the object store (DATA_DIR/logs/<id>.log): moved in once, at start,
// so that a server upgraded in place still shows every old log.
import { createReadStream } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { BuildLogs } from "./build-log.js";

/** Moves each `<id>.log` in `logsDir` into `logs` as the build's first piece; answers how many moved. */
export async function moveLegacyLogs(logsDir: string, logs: BuildLogs): Promise<number> {
  let names: string[];
  try {
    names = await readdir(logsDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
  let moved = 0;
  for (const name of names) {
    const m = /^([1-9][0-9]{0,14})\.log$/.exec(name);
    if (!m) continue; // server.log and anything else of ours
    const log = logs.of(Number(m[1]));
    // A log already in the store wins: a half-done earlier move, or a store shared with an upgraded server.
    if ((await log.stat()).pieces === 0) await log.append(createReadStream(join(logsDir, name)));
    await rm(join(logsDir, name), { force: true });
    moved++;
  }
  return moved;
}
