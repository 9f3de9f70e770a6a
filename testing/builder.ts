// A real `flox builder` process for end-to-end tests and benchmarks: its own chroot store, polling every 200 ms,
// its output kept for error messages, and a stop that never leaves it running.
import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { projectRoot } from "../lib/project-root.js";
import type { TestServer } from "./server.js";

export interface BuilderProcess {
  name: string;
  child: ChildProcess;
  /** Everything it printed so far. */
  log(): string;
  /** Sends `signal` and waits for the exit (SIGKILL after 10 s). */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** A real `flox builder` with its own chroot store at `store`, polling every 200 ms. */
export function startBuilderProcess(
  srv: Pick<TestServer, "url">,
  opts: { name: string; token: string; store: string; system: string; args?: string[] },
): BuilderProcess {
  const child = spawn(
    process.execPath,
    [
      join(projectRoot, "cli", "bin", "flox"),
      "builder",
      "--server",
      srv.url,
      "--token",
      opts.token,
      "--store",
      opts.store,
      "--systems",
      opts.system,
      "--name",
      opts.name,
      ...(opts.args ?? []),
    ],
    {
      env: { ...process.env, FLOX_BUILDER_POLL_MS: "200", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let log = "";
  const collect = (c: string) => {
    log += c;
  };
  child.stdout?.setEncoding("utf8").on("data", collect);
  child.stderr?.setEncoding("utf8").on("data", collect);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    name: opts.name,
    child,
    log: () => log,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(force);
    },
  };
}

/** The system the server evaluates for (what builders must offer). */
export async function serverSystem(dataDir: string): Promise<string> {
  return JSON.parse(await readFile(join(dataDir, "run", "hooks.json"), "utf8")).system;
}

/** A builder token and one real `flox builder` (`b1`, its chroot store in `dir`): what most end-to-end tests need. */
export async function startOneBuilder(
  srv: Pick<TestServer, "url" | "api" | "dataDir">,
  dir: string,
): Promise<BuilderProcess> {
  const t = await srv.api("POST", "/api/v1/tokens", { scope: "builder", name: "b" });
  if (t.status !== 201)
    throw new Error(`creating a builder token: HTTP ${t.status} ${JSON.stringify(t.body)}`);
  return startBuilderProcess(srv, {
    name: "b1",
    token: t.body.secret,
    store: join(dir, "store-b1"),
    system: await serverSystem(srv.dataDir),
  });
}
