// Real pipes for a child's stdin and stdout. `nix-daemon --stdio` splice(2)s between them and the daemon socket,
// which fails (EINVAL) on the socketpairs Node's spawn makes; Node has no pipe(2), but a FIFO opened from both
// ends is one. Each end is its own open file, so the non-blocking mode libuv sets on ours never reaches the child.
import { execFile } from "node:child_process";
import { close, constants, open } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const openFd = promisify(open);
const closeFd = promisify(close);
const run = promisify(execFile);

/** One pipe: `read` and `write` are fds; give one to the child and keep the other. */
export interface PipeFds {
  read: number;
  write: number;
}

/** Opens a FIFO that exists from both ends. */
async function openFifo(path: string): Promise<PipeFds> {
  // Opening one end blocks until the other is open; a read-write hold first lets both open at once.
  const hold = await openFd(path, constants.O_RDWR);
  try {
    const read = await openFd(path, constants.O_RDONLY);
    const write = await openFd(path, constants.O_WRONLY);
    return { read, write };
  } finally {
    await closeFd(hold);
  }
}

/** Two pipes (the child's stdin and stdout); the FIFOs' names are gone before this returns. */
export async function pipePair(): Promise<{ stdin: PipeFds; stdout: PipeFds }> {
  const dir = await mkdtemp(join(tmpdir(), "flox-relay-"));
  try {
    // One mkfifo for both: a process start is most of what a connection costs here.
    await run("mkfifo", ["-m", "600", join(dir, "in"), join(dir, "out")]);
    const stdin = await openFifo(join(dir, "in"));
    const stdout = await openFifo(join(dir, "out"));
    return { stdin, stdout };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function closeFds(...fds: number[]): Promise<void> {
  await Promise.all(fds.map((fd) => closeFd(fd).catch(() => undefined)));
}
