// End-to-end CI tests share these: real `flox builder` processes, read-only looks into the server's database,
// and polling until something holds.
import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { execa } from "execa";
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

/** Rows of a read-only query against the server's database (the server keeps running). */
export function queryDb<T>(dataDir: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(join(dataDir, "db.sqlite"), { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** Polls `probe` every 200 ms until it gives a truthy value; on timeout throws with `explain()`'s text. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs?: number; explain?: () => string } = {},
): Promise<T> {
  const until = Date.now() + (opts.timeoutMs ?? 120_000);
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until)
      throw new Error(`timed out waiting for ${what}${opts.explain ? `\n${opts.explain()}` : ""}`);
    await new Promise((r) => setTimeout(r, 200));
  }
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

export const buildFinished = (state: string) => state !== "queued" && state !== "running";

export interface FloxRun {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

/**
 * The real `flox` CLI against `server` with `token` (no colour, its own config dir `configHome` so nothing of the
 * host's `flox login` is read). Never throws on a non-zero exit: tests assert on it.
 */
export async function runFlox(
  server: string,
  token: string,
  configHome: string,
  args: string[],
  opts: { cwd?: string } = {},
): Promise<FloxRun> {
  const r = await execa(process.execPath, [join(projectRoot, "cli", "bin", "flox"), ...args], {
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    env: {
      ...process.env,
      FLOX_SERVER: server,
      FLOX_TOKEN: token,
      NO_COLOR: "1",
      XDG_CONFIG_HOME: configHome,
    },
    reject: false,
    stdin: "ignore",
    timeout: 300_000,
  });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Waits until channel `acme` (the org's main branch) points at `evaluation` or a later one. */
export async function waitForChannelAt(
  srv: Pick<TestServer, "api">,
  org: string,
  evaluation: number,
  explain?: () => string,
): Promise<void> {
  await waitFor(
    `channel ${org} at evaluation ${evaluation}`,
    async () =>
      (await srv.api("GET", `/api/v1/channels/${org}`)).body.channel?.current?.evaluation >= evaluation,
    explain ? { explain } : {},
  );
}

/** The id of the newest evaluation of `org/branch` (the one the last push queued). */
export async function latestEvaluationId(
  srv: Pick<TestServer, "api">,
  org: string,
  branch = "main",
): Promise<number> {
  const r = await srv.api("GET", `/api/v1/orgs/${org}/jobsets/${encodeURIComponent(branch)}/evaluations`);
  return r.body.evaluations[0].id;
}
