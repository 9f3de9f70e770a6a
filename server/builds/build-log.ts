// Build logs on disk: DATA_DIR/logs/<build id>.log, every attempt appended, read from an offset so that a
// follower (`flox log --follow`, the log API) gets each byte once.
import { open } from "node:fs/promises";
import { join } from "node:path";

/** Where a build's log is kept. */
export function buildLogPath(logsDir: string, buildId: number): string {
  return join(logsDir, `${buildId}.log`);
}

/** The most one read hands out; a follower simply asks again from the new offset. */
const MAX_READ = 1024 * 1024;

/** The bytes of the log from `offset` on (at most 1 MiB); empty when there are none (yet). */
export async function readLogFrom(path: string, offset: number): Promise<Buffer> {
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return Buffer.alloc(0);
    throw err;
  }
  try {
    const { size } = await file.stat();
    if (offset >= size) return Buffer.alloc(0);
    const length = Math.min(MAX_READ, size - offset);
    const buf = Buffer.alloc(length);
    const { bytesRead } = await file.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}
