// The kernel side of the agent's mount point, independent of fuse-native: is something mounted there, is it a
// dead agent's mount (every access fails with "Transport endpoint is not connected"), and taking a mount away
// in bounded time — plainly when nothing uses it, lazily when a FUSE call, a fetch or an open file holds it.
import { execFile } from "node:child_process";
import { readFile, stat } from "node:fs/promises";

/** Longest wait for one unmount command or one probe of the mount point. */
const COMMAND_MS = 2000;

/** The mount at `dir` in this process's mount namespace (/proc/self/mountinfo), or undefined. */
export async function mountAt(dir: string): Promise<{ fstype: string } | undefined> {
  const escaped = dir.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
  const info = await readFile("/proc/self/mountinfo", "utf8");
  // The last mount listed at a point is the one on top.
  let found: { fstype: string } | undefined;
  for (const line of info.split("\n")) {
    const fields = line.split(" ");
    if (fields[4] !== escaped) continue;
    const dash = fields.indexOf("-");
    found = { fstype: fields[dash + 1] ?? "" };
  }
  return found;
}

/** Runs a command with a time limit; resolves with its error output, or undefined when it succeeded. */
function run(file: string, args: string[]): Promise<string | undefined> {
  return new Promise((done) => {
    execFile(file, args, { timeout: COMMAND_MS, killSignal: "SIGKILL" }, (err, _out, stderr) => {
      if (!err) return done(undefined);
      const why = stderr.trim() || (err.killed ? `no answer within ${COMMAND_MS} ms` : err.message);
      done(`${file} ${args.join(" ")}: ${why}`);
    });
  });
}

/**
 * Takes the mount at `dir` away: `fusermount -u` (fails when the mount is busy), then `fusermount -uz`, then
 * `umount -l` (lazy: gone from the namespace at once, released by the kernel when the last user lets go).
 * Every command is bounded, so this ends in about 6 s at worst. Says how it went; throws when all failed.
 */
export async function unmountBounded(
  dir: string,
): Promise<"unmounted" | "unmounted lazily" | "already unmounted"> {
  if (!(await mountAt(dir))) return "already unmounted";
  const plain = await run("fusermount", ["-u", dir]);
  if (plain === undefined || !(await mountAt(dir))) return "unmounted";
  const errors = [plain];
  for (const [file, args] of [
    ["fusermount", ["-uz", dir]],
    ["umount", ["-l", dir]],
  ] as const) {
    const failed = await run(file, [...args]);
    if (!(await mountAt(dir))) return "unmounted lazily";
    if (failed) errors.push(failed);
  }
  throw new Error(`could not unmount ${dir}: ${errors.join("; ")}`);
}

/** What stat says of a mount point: fine, or the error code (ENOTCONN: its FUSE server is gone). */
async function probe(dir: string): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<string>((ok) => {
    timer = setTimeout(() => ok("ETIMEDOUT"), COMMAND_MS);
  });
  const answer = stat(dir).then(
    () => undefined,
    (err: NodeJS.ErrnoException) => err.code ?? "EIO",
  );
  const r = await Promise.race([answer, hung]);
  clearTimeout(timer);
  return r;
}

/**
 * Before mounting at `dir`: a flox mount left there by an agent that died without unmounting (kill -9, a crash)
 * is cleared, and `log` says so; a live one, or anything else mounted there, is an error saying what to do.
 * Resolves with whether a stale mount was cleared.
 */
export async function clearStaleMount(dir: string, log: (msg: string) => void): Promise<boolean> {
  const mounted = await mountAt(dir);
  if (!mounted) return false;
  const state = await probe(dir);
  if (mounted.fstype === "fuse.flox" && (state === "ENOTCONN" || state === "ECONNABORTED")) {
    const how = await unmountBounded(dir);
    log(`cleared a stale mount at ${dir} (${how}), left by an agent that did not exit cleanly`);
    return true;
  }
  if (mounted.fstype === "fuse.flox" && state === "ETIMEDOUT") {
    throw new Error(
      `${dir} is mounted by a flox agent that does not answer (stopped?): end it, or umount -l ${dir}`,
    );
  }
  if (mounted.fstype === "fuse.flox") {
    throw new Error(
      `${dir} is already mounted by a running flox agent: stop it first, or choose another --mount`,
    );
  }
  throw new Error(
    `${dir} is a mount point already (${mounted.fstype}): unmount it, or choose another --mount`,
  );
}
