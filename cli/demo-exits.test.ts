// Issue 18: `npm run demo` takes its server, builder and agent (and whatever git or flox command is running) down
// with it when it is sent SIGTERM, or SIGINT as Ctrl-C sends it (to the whole foreground process group), and
// leaves no FUSE mount behind. The real `node dist/cli/demo.js`, signalled once its agent has mounted and run
// hello, while it goes on pushing.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compiledPath } from "../lib/project-root.js";
import { waitFor } from "../testing/wait-for.js";

const fuse = process.getuid?.() === 0 && readdirSync("/dev").includes("fuse");

/** pid → "start time, command" of every process in /proc now: the start time tells a reused pid apart. */
function processTable(): Map<number, { ppid: number; id: string }> {
  const table = new Map<number, { ppid: number; id: string }>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      table.set(Number(name), { ppid: Number(fields[1]), id: `${fields[19]} ${cmd}` });
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

/** Every descendant of `root` now, as pid → identity. */
function descendants(root: number): Map<number, string> {
  const table = processTable();
  const found = new Map<number, string>();
  let frontier = [root];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const [pid, p] of table) {
      if (frontier.includes(p.ppid) && !found.has(pid)) {
        found.set(pid, p.id);
        next.push(pid);
      }
    }
    frontier = next;
  }
  return found;
}

/** Which of the processes seen are still the same processes. */
function survivors(seen: Map<number, string>): string[] {
  const now = processTable();
  return [...seen].filter(([pid, id]) => now.get(pid)?.id === id).map(([pid, id]) => `${pid}: ${id}`);
}

const mounted = (dir: string) =>
  readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[1] === dir);

async function signalledDemo(how: "SIGTERM to the demo" | "SIGINT to its process group (Ctrl-C)") {
  const home = mkdtempSync(join(tmpdir(), "flox-demo-exits-"));
  let demo: ChildProcess | undefined;
  const seen = new Map<number, string>();
  let out = "";
  try {
    // A process group of its own, as a shell gives a foreground job: Ctrl-C signals the whole group.
    demo = spawn(process.execPath, [compiledPath("cli/demo.ts")], {
      env: { ...process.env, FLOX_DEMO_DIR: home },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const child = demo;
    child.stdout?.setEncoding("utf8").on("data", (c: string) => {
      out += c;
    });
    child.stderr?.setEncoding("utf8").on("data", (c: string) => {
      out += c;
    });
    const watcher = setInterval(() => {
      for (const [pid, id] of descendants(child.pid as number)) seen.set(pid, id);
    }, 100);
    try {
      // The agent has mounted and run hello; the demo goes on with its next push.
      await waitFor("the demo to run hello through its agent", () => /cached now \(ls /.test(out), {
        timeoutMs: 15 * 60_000,
        explain: () => out,
      });
      for (const [pid, id] of descendants(child.pid as number)) seen.set(pid, id);
      assert.ok(mounted(join(home, "mnt")), "the agent's mount should be up before the signal");
      assert.ok(
        [...seen.values()].some((id) => / agent --server /.test(id)),
        "the agent should be among the demo's processes",
      );
      if (how === "SIGTERM to the demo") child.kill("SIGTERM");
      else process.kill(-(child.pid as number), "SIGINT");
      await waitFor("the demo to exit", () => child.exitCode !== null || child.signalCode !== null, {
        timeoutMs: 120_000,
        explain: () => out,
      });
    } finally {
      clearInterval(watcher);
    }
    // Children killed through PDEATHSIG get a moment to go.
    await waitFor("every process of the demo to end", () => survivors(seen).length === 0, {
      timeoutMs: 15_000,
      explain: () => `still running:\n${survivors(seen).join("\n")}\n${out}`,
    }).catch(() => undefined);
    assert.equal(survivors(seen), [], `processes of the demo outlived it (${how})`);
    assert.not.ok(mounted(join(home, "mnt")), `the agent's mount outlived the demo (${how})`);
    const signal = how.startsWith("SIGTERM") ? "SIGTERM" : "SIGINT";
    assert.match(out, `${signal}: stopping the agent, the builder and the server`);
    assert.is(demo.exitCode, 0, out);
  } finally {
    if (demo?.pid && demo.exitCode === null) process.kill(-demo.pid, "SIGKILL");
    for (const pid of seen.keys()) {
      try {
        if (survivors(new Map([[pid, seen.get(pid) as string]])).length) process.kill(pid, "SIGKILL");
      } catch {}
    }
    if (mounted(join(home, "mnt"))) spawn("fusermount", ["-uz", join(home, "mnt")]);
    rmSync(home, { recursive: true, force: true });
  }
}

if (fuse) {
  test("SIGTERM to the demo: no process of it survives and no mount remains", async () => {
    await signalledDemo("SIGTERM to the demo");
  });

  test("Ctrl-C (SIGINT to the demo's process group): no process of it survives and no mount remains", async () => {
    await signalledDemo("SIGINT to its process group (Ctrl-C)");
  });
}

test.run();
