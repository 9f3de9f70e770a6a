// A full disk is reported once a minute, not once per failed request: "disk full at DIR", in the log and on
// stderr (the log lives on that same disk, so its line may well be lost until space returns).
import { statfs } from "node:fs/promises";
import type { Logger } from "pino";
import { DiskFullError } from "./errors.js";

const DISK_FULL_CODES = new Set(["ENOSPC", "EDQUOT", "SQLITE_FULL"]);
/** What git, Nix, tar and sqlite print when a write finds no room. */
const DISK_FULL_TEXT = /No space left on device|Disk quota exceeded|database or disk is full/i;

/**
 * Whether `err` (or what caused it) is a write that found the disk full or over quota: an errno error from
 * Node, or a child process (git, nix) that said so on stderr.
 */
export function isDiskFull(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    const x = e as { code?: unknown; message?: unknown; stderr?: unknown; cause?: unknown };
    if (e instanceof DiskFullError) return true;
    if (typeof x.code === "string" && DISK_FULL_CODES.has(x.code)) return true;
    if (typeof x.stderr === "string" && DISK_FULL_TEXT.test(x.stderr)) return true;
    if (typeof x.message === "string" && DISK_FULL_TEXT.test(x.message)) return true;
    e = x.cause;
  }
  return false;
}

/** Whether the file system holding `dir` has (next to) no room left: git, for one, does not always say why it failed. */
export async function hasNoRoom(dir: string): Promise<boolean> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize < 1024 * 1024;
  } catch {
    return false;
  }
}

const EVERY_MS = 60_000;
const lastReport = new Map<string, number>();

/** Says that `dir` is full, unless that was said less than a minute ago. Never throws. */
export function reportDiskFull(logger: Logger, dir: string, err?: unknown): void {
  const now = Date.now();
  const last = lastReport.get(dir);
  if (last !== undefined && now - last < EVERY_MS) return;
  lastReport.set(dir, now);
  const line = `disk full at ${dir}: writes there fail (507 to uploads and pushes, failed evaluations) until space is freed`;
  try {
    process.stderr.write(`flox server: ${line}\n`);
  } catch {
    // stderr closed: the log below is all there is.
  }
  try {
    logger.error({ dir, err: (err as Error | undefined)?.message }, `disk full at ${dir}`);
  } catch {
    // A logger must not turn a full disk into a crash (serve.ts makes ours never throw; this is for others).
  }
}
