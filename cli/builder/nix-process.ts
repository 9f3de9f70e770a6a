// Nix as a child process of the builder: in a process group of its own, its output to the build log, and
// stopped so that the builder script Nix started goes with it.
import { type ChildProcess, spawn } from "node:child_process";
import { diesWithParent } from "../../lib/dies-with-parent.js";
import type { Env } from "./builder-env.js";

/** Nix kills the builder it started (in a session of its own) when it is interrupted, but not when killed. */
const NIX_GRACE_MS = 5000;

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

/** SIGTERM first, so Nix stops its builder; SIGKILL for whatever is left after a grace period. */
export function killGroup(child: ChildProcess): void {
  signalGroup(child, "SIGTERM");
  const force = setTimeout(() => signalGroup(child, "SIGKILL"), NIX_GRACE_MS);
  force.unref();
  child.once("close", () => clearTimeout(force));
}

interface Spawned {
  child: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function spawnNix(e: Env, cmd: string, args: string[], onOutput: (chunk: Buffer) => void): Spawned {
  // A process group of its own: a cancel kills Nix and the builder script it started. SIGTERM when the builder
  // dies, even by kill -9: Nix takes that as an interrupt and stops the builder script it started.
  const wrapped = diesWithParent(cmd, args, "TERM");
  const child = spawn(wrapped.file, wrapped.args, {
    env: e.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  child.stdout?.on("data", onOutput);
  child.stderr?.on("data", onOutput);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    child.once("error", (err) => {
      onOutput(Buffer.from(`flox builder: could not start ${cmd}: ${err.message}\n`));
      done({ code: -1, signal: null });
    });
    child.once("close", (code, signal) => done({ code, signal }));
  });
  return { child, exit };
}
