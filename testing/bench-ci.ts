// Shared by the CI benchmarks (push-to-built, builders-one-vs-two); not a benchmark itself.
// A real `flox server` (compiled CLI), an org, a builder token, real `flox builder` processes with their own
// chroot stores, a work repo pushed with real git, and an isolated Nix for the no-CI peer figures.
// Everything it starts is stopped by `Ci.close()`, which the scripts call in `finally` and on SIGINT/SIGTERM.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { execa } from "execa";
import { type EvalJob, EvaluationResponse, EvaluationsResponse } from "../lib/api/evaluations.js";
import { PushesResponse } from "../lib/api/pushes.js";
import { CreateTokenResponse } from "../lib/api/tokens.js";
import { projectRoot } from "../lib/project-root.js";
import { type BuilderProcess, startBuilderProcess } from "./builder.js";
import { removeTree } from "./remove-tree.js";
import { startTestServer, type TestServer } from "./server.js";
import { waitFor } from "./wait-for.js";

export const ORG = "bench";

const gitEnv = {
  GIT_TERMINAL_PROMPT: "0",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_AUTHOR_NAME: "bench",
  GIT_AUTHOR_EMAIL: "bench@flox.invalid",
  GIT_COMMITTER_NAME: "bench",
  GIT_COMMITTER_EMAIL: "bench@flox.invalid",
};

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const ms = (iso: string | null | undefined): number => (iso ? Date.parse(iso) : Number.NaN);
export const finishedBuild = (state: string) => state !== "queued" && state !== "running";

/** The 1-minute load average: figures taken while other work ran on the same cores are not comparable. */
export const load = () => (loadavg()[0] ?? Number.NaN).toFixed(2);

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? Number.NaN) : ((s[m - 1] ?? Number.NaN) + (s[m] ?? Number.NaN)) / 2;
};

/** Runs `fn` with a fresh temp dir; `fn`'s cleanups (and the dir) run afterwards, also on failure or Ctrl-C. */
export async function withCleanup(
  prefix: string,
  fn: (root: string, onCleanup: (f: () => Promise<unknown>) => void) => Promise<void>,
): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const cleanups: (() => Promise<unknown>)[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanAll = () => {
    cleaning ??= (async () => {
      for (const f of cleanups.reverse()) await f().catch((e) => console.error(`cleanup: ${e}`));
      await removeTree(root);
    })();
    return cleaning;
  };
  const onSignal = (sig: NodeJS.Signals) => {
    console.error(`${sig}: stopping servers and builders, removing ${root}`);
    void cleanAll().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await fn(root, (f) => cleanups.push(f));
  } finally {
    await cleanAll();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** Runs git in `cwd` with a fixed identity and no host config; rejects with git's stderr. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const r = await execa("git", args, { cwd, env: gitEnv, reject: false });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")} failed (${r.exitCode}):\n${r.stderr}`);
  return String(r.stdout).trim();
}

/** Writes `files` (path → content) under `dir`. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    const full = join(dir, path);
    mkdirSync(join(full, ".."), { recursive: true });
    writeFileSync(full, text);
  }
}

/** A work repo (branch main, one commit) holding `files`. */
export async function workRepo(dir: string, files: Record<string, string>): Promise<string> {
  mkdirSync(dir, { recursive: true });
  writeFiles(dir, files);
  await git(dir, "init", "-q", "-b", "main");
  await git(dir, "add", "-A");
  await git(dir, "commit", "-qm", "initial");
  return git(dir, "rev-parse", "HEAD");
}

export async function commitAll(dir: string, message: string): Promise<string> {
  await git(dir, "add", "-A");
  await git(dir, "commit", "-qm", message);
  return git(dir, "rev-parse", "HEAD");
}

/** One build as its builder accounted for it: the `build N: phases (ms) a=1 b=2 … total=T received=EPOCH` line. */
export interface BuilderPhases {
  build: number;
  /** ms per phase, in the order they ran (realise, health, upload, log, report). */
  phases: Map<string, number>;
  total: number;
  /** When the claim's answer reached the builder (epoch ms). */
  received: number;
}

/** Every `phases (ms)` line in a builder's output. */
export function builderPhases(log: string): BuilderPhases[] {
  const out: BuilderPhases[] = [];
  for (const m of log.matchAll(/^build (\d+): phases \(ms\) (.*)$/gm)) {
    const phases = new Map<string, number>();
    for (const kv of (m[2] ?? "").trim().split(/\s+/)) {
      const [k, v] = kv.split("=");
      if (k && v) phases.set(k, Number(v));
    }
    const total = phases.get("total") ?? Number.NaN;
    const received = phases.get("received") ?? Number.NaN;
    phases.delete("total");
    phases.delete("received");
    out.push({ build: Number(m[1]), phases, total, received });
  }
  return out;
}

export interface BuildTimes {
  state: string;
  startedAt: string | null;
  finishedAt: string | null;
  attempts: number;
}

/** A running server with an org, a builder token, and the builders started so far. */
export class Ci {
  readonly builders: BuilderProcess[] = [];
  private constructor(
    readonly srv: TestServer,
    readonly builderToken: string,
    readonly system: string,
    private readonly root: string,
  ) {}

  static async start(root: string): Promise<Ci> {
    const srv = await startTestServer();
    try {
      const org = await srv.api("POST", "/api/v1/orgs", { name: ORG });
      if (org.status !== 201) throw new Error(`creating org ${ORG}: ${JSON.stringify(org.body)}`);
      const tok = await srv.api("POST", "/api/v1/tokens", { scope: "builder", name: "bench-builders" });
      if (tok.status !== 201) throw new Error(`creating a builder token: ${JSON.stringify(tok.body)}`);
      const system = JSON.parse(readFileSync(join(srv.dataDir, "run", "hooks.json"), "utf8"))
        .system as string;
      return new Ci(srv, CreateTokenResponse.parse(tok.body).secret, system, root);
    } catch (err) {
      await srv.stop();
      throw err;
    }
  }

  get gitUrl(): string {
    return this.srv.gitUrl(ORG, this.srv.adminToken);
  }

  /** Starts `flox builder NAME` with its own store under the root; resolves once it is polling. */
  async startBuilder(name: string): Promise<void> {
    const b = startBuilderProcess(this.srv, {
      name,
      token: this.builderToken,
      store: join(this.root, `store-${name}-${Date.now()}`),
      system: this.system,
    });
    this.builders.push(b);
    const exited = new Promise<never>((_, reject) =>
      b.child.once("exit", (code) => reject(new Error(`builder ${name} exited with ${code}:\n${b.log()}`))),
    );
    await Promise.race([
      waitFor(`builder ${name} to start`, () => b.log().includes(`flox builder ${name}:`), {
        timeoutMs: 30_000,
        explain: () => b.log(),
      }),
      exited,
    ]);
  }

  /** The last lines of every builder's output and the server's stderr, for error messages. */
  logs(): string {
    const parts = this.builders.map((b) => `--- builder ${b.name}\n${b.log().slice(-2000)}`);
    return [...parts, `--- server stderr\n${this.srv.stderr().slice(-2000)}`].join("\n");
  }

  async api<T>(path: string, schema: { parse: (x: unknown) => T }): Promise<T> {
    const r = await this.srv.api("GET", `/api/v1${path}`);
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    return schema.parse(r.body);
  }

  /** The push record of commit `sha` on main, once the post-receive hook made it. */
  async pushOf(sha: string) {
    const { pushes } = await this.api(`/orgs/${ORG}/pushes`, PushesResponse);
    return pushes.find((p) => p.newSha === sha);
  }

  /** The evaluation of commit `sha` on main (with jobs), or undefined while there is none. */
  async evaluationOf(sha: string) {
    const { evaluations } = await this.api(`/orgs/${ORG}/jobsets/main/evaluations`, EvaluationsResponse);
    const e = evaluations.find((x) => x.commitSha === sha);
    return e && (await this.api(`/evaluations/${e.id}`, EvaluationResponse)).evaluation;
  }

  /**
   * Polls the API every `everyMs` until the evaluation of `sha` finished and `done(jobs)` holds; resolves to the
   * jobs and the time it was seen (Date.now()). Throws after `timeoutMs`, or when the evaluation failed.
   */
  async waitJobs(
    sha: string,
    done: (jobs: EvalJob[]) => boolean,
    timeoutMs = 180_000,
    everyMs = 50,
  ): Promise<{ jobs: EvalJob[]; seenAt: number }> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const e = await this.evaluationOf(sha);
      if (e?.state === "failed") throw new Error(`the evaluation of ${sha} failed: ${e.error}`);
      if (e?.state === "succeeded" && e.problems.length > 0)
        throw new Error(`the evaluation of ${sha} has problems: ${JSON.stringify(e.problems)}`);
      if (e?.state === "succeeded" && done(e.jobs)) return { jobs: e.jobs, seenAt: Date.now() };
      if (Date.now() > until) {
        throw new Error(
          `timed out waiting for the builds of ${sha}: ${JSON.stringify(e?.jobs.map((j) => [j.attr, j.build.state]))}\n${this.logs()}`,
        );
      }
      await sleep(everyMs);
    }
  }

  /**
   * When builds were claimed and finished: the API shows only `{id, state}` per job, so these come from the
   * database, read-only, as the tests read it.
   */
  buildTimes(ids: number[]): Map<number, BuildTimes> {
    const db = new Database(join(this.srv.dataDir, "db.sqlite"), { readonly: true, fileMustExist: true });
    try {
      const stmt = db.prepare(
        "select state, started_at as startedAt, finished_at as finishedAt, attempts from builds where id = ?",
      );
      return new Map(ids.map((id) => [id, stmt.get(id) as BuildTimes]));
    } finally {
      db.close();
    }
  }

  /** SIGTERM to every builder (SIGKILL after 10 s), then the server stop (which removes its data dir). */
  async close(): Promise<void> {
    for (const b of this.builders.splice(0)) await b.stop();
    await this.srv.stop();
  }
}

/**
 * An isolated Nix for the no-CI peer: its own nix.conf (no substituters, no sandbox), HOME and caches, never the
 * host's store or daemon. `build` runs `nix-build --store STORE` of one attr of the org repo at `repo`, through
 * the same framework.nix and base set the server evaluates with.
 */
export class PlainNix {
  readonly env: Record<string, string>;
  constructor(
    private readonly dir: string,
    private readonly busyboxDir: string,
    private readonly system: string,
  ) {
    const conf = join(dir, "etc");
    const home = join(dir, "home");
    mkdirSync(conf, { recursive: true });
    mkdirSync(join(dir, "tmp"), { recursive: true });
    writeFileSync(
      join(conf, "nix.conf"),
      "substituters =\nsandbox = false\nbuild-users-group =\nexperimental-features = nix-command\n",
    );
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
      if (v !== undefined && !k.startsWith("NIX_") && !k.startsWith("XDG_")) env[k] = v;
    }
    this.env = {
      ...env,
      HOME: home,
      TMPDIR: join(dir, "tmp"),
      XDG_CACHE_HOME: join(home, ".cache"),
      XDG_CONFIG_HOME: join(home, ".config"),
      XDG_DATA_HOME: join(home, ".local/share"),
      XDG_STATE_HOME: join(home, ".local/state"),
      NIX_CONF_DIR: conf,
      NIX_USER_CONF_FILES: join(conf, "nix.conf"),
      NIX_PATH: "",
    };
  }

  /** Builds `attrs` of `repo` into `store`; resolves to the output paths (one line each). */
  async build(store: string, repo: string, attrs: string[]): Promise<string[]> {
    const nixPath = (p: string) => `/. + ${JSON.stringify(p)}`;
    const r = await execa(
      "nix-build",
      [
        "--store",
        store,
        "--option",
        "substituters",
        "",
        "--no-out-link",
        join(projectRoot, "lib", "nix", "framework.nix"),
        "--arg",
        "repo",
        nixPath(repo),
        "--arg",
        "busybox",
        nixPath(this.busyboxDir),
        "--argstr",
        "system",
        this.system,
        ...attrs.flatMap((a) => ["-A", a]),
      ],
      { env: this.env, extendEnv: false, cwd: this.dir, reject: false, timeout: 300_000 },
    );
    if (r.exitCode !== 0)
      throw new Error(`nix-build ${attrs.join(" ")} failed (${r.exitCode}):\n${r.stderr}`);
    return String(r.stdout).split("\n").filter(Boolean);
  }
}
