// A long-running `flox` command (a builder, a machine's sync) for end-to-end tests and benchmarks: the bin itself, as
// users run it, its output kept for error messages, and a stop that never leaves it running.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { projectRoot } from "../lib/project-root.js";

export interface FloxProcess {
  child: ChildProcess;
  /** Everything it printed so far, stdout and stderr together. */
  log(): string;
  /** Wakes it if stopped (SIGCONT), sends `signal` and waits for the exit (SIGKILL after 10 s). */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** `flox ARGS` with `env` over this process's environment and NO_COLOR. */
export function spawnFlox(args: string[], env: Record<string, string> = {}): FloxProcess {
  const child = spawn(join(projectRoot, "cli", "bin", "flox"), args, {
    env: { ...process.env, NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const collect = (c: string) => {
    log += c;
  };
  child.stdout?.setEncoding("utf8").on("data", collect);
  child.stderr?.setEncoding("utf8").on("data", collect);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    child,
    log: () => log,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGCONT");
      child.kill(signal);
      const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(force);
    },
  };
}
