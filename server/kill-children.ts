// At shutdown, after the grace period: child processes still running (an evaluation's nix-instantiate writing
// .drv files into DATA_DIR/nix-root, a nix-store query of a background publish) must not outlive the server and
// keep writing into a data dir that may be moved or removed next.
import { readdir, readFile } from "node:fs/promises";

/** The pids whose parent is `ppid`, from /proc (Linux). */
export async function childPids(ppid = process.pid): Promise<number[]> {
  const entries = await readdir("/proc").catch(() => [] as string[]);
  const found: number[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    // pid (comm) state ppid …; comm may hold spaces and parentheses, so split after the last ')'.
    const ppidField = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1];
    if (Number(ppidField) === ppid) found.push(Number(name));
  }
  return found;
}

/** SIGKILLs every child process of this one; returns how many there were. */
export async function killChildren(): Promise<number> {
  const pids = await childPids();
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  return pids.length;
}
