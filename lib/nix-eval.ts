/**
 * Evaluation of an org's nixexprs repo, shared by the push gate (hooks/pre-receive) and the
 * server's evaluator: parse every .nix file, evaluate every package to a derivation, and
 * report each thing that is wrong as `path:line: message (hint)` against the repo's files.
 *
 * The code evaluated is hostile: Nix runs with restrict-eval (only the repo, flox's own Nix
 * files and the busybox directory are readable), no import-from-derivation, no URIs, an
 * empty configuration, a kill after a time limit and a memory limit (lib/limited-command.ts: both
 * also hold when flox is killed). Nix ignores SIGTERM while it evaluates, so that kill is a SIGKILL.
 */
import { lstat, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { execa } from "execa";
import {
  commandNotFound,
  DEFAULT_EVAL_MEMORY_BYTES,
  formatMemory,
  limitedCommand,
  ranOutOfMemory,
} from "./limited-command.js";
import { nixDir } from "./project-root.js";

/** One thing wrong with a pushed repo, shown to the pusher as `path:line: message (hint)`. */
export interface Problem {
  /** Repo-relative, with `/` separators. */
  path: string;
  line: number;
  message: string;
  hint?: string;
}

/** One package of the repo, evaluated: what the build queue needs. */
export interface Job {
  /** The package's attribute: its directory name under pkgs/. */
  attr: string;
  /** The derivation's name (e.g. `wordcount-1.2.0`). */
  name: string;
  system: string;
  drvPath: string;
  /** Output name → store path. */
  outputs: Record<string, string>;
  /** From `meta.timeout`: the build's time limit in seconds (null: the server's default). */
  timeoutSeconds?: number | null;
  /** From `meta.maxSilent`: seconds without output before the build is killed. */
  maxSilentSeconds?: number | null;
  /** From `meta.schedulingPriority`: higher runs first. */
  priority?: number | null;
}

export interface EvalOptions {
  /** A checkout (or exported tree) of the repo. */
  repoDir: string;
  /** Root of the chroot store that instantiate mode writes .drv files into (`--store`). */
  storeRoot: string;
  /** `bin/busybox` + `bin/sh`, see ensureBusyboxDir. */
  busyboxDir: string;
  /** A nixpkgs checkout to use as the base set instead of the bootstrap one (`flox server --base`). */
  basePath?: string;
  system?: string;
  /** Per nix process; default 60 s. */
  timeoutMs?: number;
  /** Address space per nix process (RLIMIT_AS), default {@link DEFAULT_EVAL_MEMORY_BYTES}. */
  memoryBytes?: number;
  /** Nix processes at once when packages are evaluated one by one; default min(4, cores). */
  concurrency?: number;
}

export interface EvalResult {
  jobs: Job[];
  problems: Problem[];
}

export const defaultEvalTimeoutMs = 60_000;
const defaultSystem = "x86_64-linux";
/** DESIGN.md, "The nixexprs layout". */
const packageName = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

export class NixNotInstalledError extends Error {
  override name = "NixNotInstalledError";
}

/** Nix exited 0 but printed something that is not the JSON that jobs.nix makes. */
export class NixOutputError extends Error {
  override name = "NixOutputError";
}

/** Nix printed more than flox keeps in memory ({@link maxNixStdout}); nothing of it is read. */
export class NixOutputTooLargeError extends NixOutputError {
  override name = "NixOutputTooLargeError";
}

/**
 * Bounds on what is kept of a nix process's output. The jobs JSON is about 300 bytes a package, so 64 MiB is far
 * beyond any repo the gate lets in; stderr is only read for its first error, which Nix prints first.
 */
export const maxNixStdout = 64 * 1024 * 1024;
const maxNixStderr = 4 * 1024 * 1024;

/** `path:line: message (hint)`: how the gate prints a problem (git adds `remote: `). */
export function formatProblem(p: Problem): string {
  return `${p.path}:${p.line}: ${p.message}${p.hint ? ` (${p.hint})` : ""}`;
}

// ---------------------------------------------------------------------------------------------
// Running Nix

interface NixRun {
  ok: boolean;
  timedOut: boolean;
  /** Stopped by the memory limit. */
  outOfMemory: boolean;
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
}

/** A throw-away HOME/config for Nix: the host's nix.conf, user config and caches are never read. */
async function isolatedEnv(): Promise<{ env: Record<string, string>; dispose: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "flox-eval-"));
  const conf = join(dir, "conf");
  await mkdir(conf);
  await writeFile(join(conf, "nix.conf"), "");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: join(dir, "home"),
    TMPDIR: dir,
    XDG_CACHE_HOME: join(dir, "cache"),
    XDG_CONFIG_HOME: conf,
    XDG_CONFIG_DIRS: conf,
    XDG_DATA_HOME: join(dir, "data"),
    NIX_CONF_DIR: conf,
    NIX_USER_CONF_FILES: join(conf, "nix.conf"),
    NIX_PATH: "",
    LC_ALL: "C",
  };
  return { env, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/** The limits every nix process runs under. */
interface RunLimits {
  timeoutMs: number;
  memoryBytes: number;
}

async function runNix(
  args: readonly string[],
  env: Record<string, string>,
  limits: RunLimits,
  wantStdout = true,
): Promise<NixRun> {
  const cmd = limitedCommand("nix-instantiate", args, limits);
  const r = await execa(cmd.file, cmd.args, {
    env,
    extendEnv: false,
    reject: false,
    stdin: "ignore",
    stdout: wantStdout ? "pipe" : "ignore",
    timeout: limits.timeoutMs,
    // The pid execa knows is the wrapper's `timeout`: killing it kills nix through PR_SET_PDEATHSIG.
    killSignal: "SIGKILL",
    maxBuffer: { stdout: maxNixStdout, stderr: maxNixStderr },
  });
  const stderr = String(r.stderr ?? "");
  if (r.exitCode === undefined && !r.timedOut && /ENOENT/.test(String(r.message))) {
    throw new NixNotInstalledError(
      `${cmd.file} not found: flox runs Nix under setpriv, timeout and prlimit (util-linux, coreutils)`,
    );
  }
  if (commandNotFound(r.exitCode, stderr)) {
    throw new NixNotInstalledError(
      `nix-instantiate could not be run: ${lastLine(stderr)} (Nix: npm run setup; setpriv and prlimit come with util-linux)`,
    );
  }
  if (r.isMaxBuffer && String(r.stdout ?? "").length >= maxNixStdout) {
    throw new NixOutputTooLargeError(
      `nix-instantiate printed more than ${formatMemory(maxNixStdout)} of output; flox reads no more than that`,
    );
  }
  return {
    ok: !r.failed,
    timedOut: r.timedOut,
    outOfMemory: r.failed && !r.timedOut && ranOutOfMemory(stderr),
    stdout: typeof r.stdout === "string" ? r.stdout : "",
    stderr,
    exitCode: r.exitCode,
  };
}

/** A counting semaphore: bounds nix processes, not tasks, so nested waits cannot deadlock. */
function limiter(max: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/** `(/. + "…")`: a Nix path expression for any absolute path, spaces and quotes included. */
function nixPathExpr(p: string): string {
  return `(/. + "${p.replace(/[\\"$]/g, (c) => `\\${c}`)}")`;
}

// ---------------------------------------------------------------------------------------------
// Reading Nix's errors (2.8: `error: MESSAGE`, then `at FILE:LINE:COL:` and trace frames)

export interface Position {
  file: string;
  line: number;
}

export interface NixError {
  message: string;
  /** Positions named inside the message itself (e.g. "anonymous function at F:1:1 called …"). */
  inMessage: Position[];
  /** The error's own position, then the trace's, innermost first. */
  at: Position[];
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are control characters
const ansi = /\x1b\[[0-9;]*m/g;

export function parseNixError(stderr: string): NixError | null {
  const lines = stderr.replace(ansi, "").split("\n");
  const start = lines.findIndex((l) => l.startsWith("error: "));
  if (start < 0) return null;
  const messageLines: string[] = [(lines[start] ?? "").slice("error: ".length)];
  let i = start + 1;
  for (; i < lines.length; i++) {
    const l = lines[i] ?? "";
    if (l.trim() === "" || /^\s+(at |… )/.test(l)) break;
    messageLines.push(l.trim());
  }
  const message = messageLines.join(" ").trim();
  const inMessage = [...message.matchAll(/ at (\/[^:\s]+):(\d+):\d+/g)].map((m) => ({
    file: m[1] ?? "",
    line: Number(m[2]),
  }));
  const at: Position[] = [];
  for (; i < lines.length; i++) {
    const m = /^\s+at (\/.+?):(\d+):\d+:$/.exec(lines[i] ?? "");
    if (m) at.push({ file: m[1] ?? "", line: Number(m[2]) });
  }
  return { message, inMessage, at };
}

function isInside(root: string, file: string): boolean {
  return file.startsWith(root + sep);
}

function toRepoPath(root: string, file: string): string {
  return relative(root, file).split(sep).join("/");
}

// ---------------------------------------------------------------------------------------------
// Parsing

/**
 * Parses each file (repo-relative paths) and returns a problem for each that Nix rejects,
 * with its line. One nix process for all files when they are fine; when one is not, the
 * files after it are parsed one by one so that every bad file is reported.
 */
export async function parseNixFiles(
  repoDir: string,
  relPaths: readonly string[],
  options: { timeoutMs?: number; memoryBytes?: number; concurrency?: number } = {},
): Promise<Problem[]> {
  const timeoutMs = options.timeoutMs ?? defaultEvalTimeoutMs;
  const memoryBytes = options.memoryBytes ?? DEFAULT_EVAL_MEMORY_BYTES;
  const root = await realpath(repoDir);
  const problems: Problem[] = [];
  const files: Array<{ rel: string; abs: string }> = [];
  for (const rel of relPaths) {
    const abs = join(root, rel);
    const refused = await escapesRepo(root, abs);
    if (refused) problems.push({ path: rel, line: 1, ...refused });
    else files.push({ rel, abs });
  }
  if (files.length === 0) return problems;

  const { env, dispose } = await isolatedEnv();
  try {
    const parse = (group: typeof files) =>
      runNix(
        ["--parse", ...group.map((f) => f.abs)],
        env,
        // A batch may hold hundreds of files: its limit grows with it.
        { timeoutMs: timeoutMs * Math.max(1, Math.ceil(group.length / 50)), memoryBytes },
        false,
      );
    const all = await parse(files);
    if (all.ok) return problems;

    let rest = files;
    const err = parseNixError(all.stderr);
    const failed = err ? files.findIndex((f) => f.abs === err.at[0]?.file) : -1;
    if (failed >= 0 && err) {
      // Nix stops at the first bad file, and everything before it parsed.
      problems.push(parseProblem(root, files[failed] as (typeof files)[number], err));
      rest = files.slice(failed + 1);
    }
    const limit = limiter(options.concurrency ?? defaultConcurrency());
    const one = await Promise.all(
      rest.map((f) =>
        limit(async () => {
          const r = await runNix(["--parse", f.abs], env, { timeoutMs, memoryBytes }, false);
          if (r.ok) return null;
          if (r.timedOut) return { path: f.rel, line: 1, message: "parsing timed out" };
          const e = parseNixError(r.stderr);
          return e
            ? parseProblem(root, f, e)
            : { path: f.rel, line: 1, message: lastLine(r.stderr) || "nix-instantiate --parse failed" };
        }),
      ),
    );
    for (const p of one) if (p) problems.push(p);
    return problems;
  } finally {
    await dispose();
  }
}

function parseProblem(root: string, file: { rel: string; abs: string }, err: NixError): Problem {
  const pos = err.at.find((p) => p.file === file.abs);
  return {
    path: file.rel,
    line: pos?.line ?? 1,
    message: scrubPaths(err.message, { root }),
    ...hintFor(err.message),
  };
}

/** What to do about one of Nix's error messages, for the ones a pusher meets. */
function hintFor(message: string): { hint?: string } {
  const undefinedVar = /^undefined variable '([^']+)'/.exec(message);
  if (undefinedVar) {
    return {
      hint: `'${undefinedVar[1]}' is not defined here: if it is a package, add it to the function's arguments; otherwise check the spelling`,
    };
  }
  if (/^syntax error/.test(message)) {
    return {
      hint: "fix the Nix syntax: the parser stops where it noticed, the mistake is often just before",
    };
  }
  if (/forbidden in restricted mode/.test(message)) {
    return {
      hint: "a package may read only files of this repository: no absolute paths, no links out of it, no <…> lookups",
    };
  }
  if (/(not allowed|forbidden) in restricted mode|allowed-uris/.test(message)) {
    return { hint: "evaluation is offline: commit the sources to the repository instead of fetching them" };
  }
  if (/allow-import-from-derivation/.test(message)) {
    return { hint: "import-from-derivation is disabled: generate the Nix code ahead of time and commit it" };
  }
  if (/stack overflow|infinite recursion/.test(message)) {
    return { hint: "look for a value that depends on itself or a recursion that never stops" };
  }
  if (/^attribute '([^']+)' missing/.test(message)) return { hint: "check the attribute's name" };
  return {};
}

/** A path that resolves (through symlinks) outside the repo is refused before Nix reads it. */
async function escapesRepo(root: string, abs: string): Promise<{ message: string; hint: string } | null> {
  let real: string;
  try {
    real = await realpath(abs);
  } catch {
    return { message: "file is missing or a dangling symlink", hint: "commit the file itself" };
  }
  if (!isInside(root, real)) {
    return {
      message: "symlink points outside the repository",
      hint: "commit the file itself instead of a link to it",
    };
  }
  const st = await lstat(real);
  if (!st.isFile()) return { message: "not a regular file", hint: "a .nix path must be a file" };
  return null;
}

function lastLine(s: string): string {
  return (
    s
      .replace(ansi, "")
      .trim()
      .split("\n")
      .filter((l) => l.trim())
      .pop() ?? ""
  );
}

function defaultConcurrency(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

// ---------------------------------------------------------------------------------------------
// Evaluating

interface Ctx {
  root: string;
  nixDir: string;
  busybox: string;
  base: string | undefined;
}

/** Absolute server-side paths in Nix's messages say nothing useful to a pusher: shorten them. */
function scrubPaths(message: string, ctx: Partial<Ctx> & { root: string }): string {
  let m = message.split(`${ctx.root}/`).join("");
  if (ctx.nixDir) m = m.split(ctx.nixDir).join("<flox>");
  if (ctx.busybox) m = m.split(ctx.busybox).join("<busybox>");
  if (ctx.base) m = m.split(ctx.base).join("<base>");
  return m;
}

const typeNames: Record<string, string> = {
  set: "an attribute set",
  lambda: "a function",
  string: "a string",
  list: "a list",
  int: "an integer",
  float: "a float",
  bool: "a boolean",
  null: "null",
  path: "a path",
};

/**
 * Evaluates the named packages (directories under pkgs/) to jobs. Gate mode
 * (`instantiate: false`) writes nothing anywhere: Nix runs read-only against a dummy store and
 * still computes every drvPath and output path. Evaluator mode writes the .drv files (and the
 * sources they refer to) into the chroot store at `storeRoot`, with the same paths.
 *
 * All packages are evaluated by one nix process; only when that fails are they split up
 * (chunks, then single packages, a few processes at a time) so that every failing package is
 * reported, at the file and line Nix names, and every good one still yields its job.
 */
export async function evaluatePackages(
  opts: EvalOptions,
  names: readonly string[],
  mode: { instantiate: boolean },
): Promise<EvalResult> {
  const limits: RunLimits = {
    timeoutMs: opts.timeoutMs ?? defaultEvalTimeoutMs,
    memoryBytes: opts.memoryBytes ?? DEFAULT_EVAL_MEMORY_BYTES,
  };
  const system = opts.system ?? defaultSystem;
  const ctx: Ctx = {
    root: await realpath(opts.repoDir),
    nixDir: await realpath(nixDir),
    busybox: await realpath(opts.busyboxDir),
    base: opts.basePath ? await realpath(opts.basePath) : undefined,
  };
  const problems: Problem[] = [];
  const wanted: string[] = [];
  const checked = await Promise.all(
    [...new Set(names)].map(async (name): Promise<Problem | string> => {
      if (!packageName.test(name)) {
        return {
          path: `pkgs/${name}`,
          line: 1,
          message: "not a valid package name",
          hint: "a name starts with a letter or digit and holds only letters, digits and . _ + -",
        };
      }
      // A link to another file of the repo is fine; one out of it is left to restrict-eval to refuse.
      const st = await stat(join(ctx.root, "pkgs", name, "default.nix")).catch(() => null);
      if (st?.isFile()) return name;
      return {
        path: `pkgs/${name}/default.nix`,
        line: 1,
        message: "missing: every package directory needs a default.nix",
        hint: `create pkgs/${name}/default.nix, a function of its dependencies returning a derivation`,
      };
    }),
  );
  for (const c of checked) {
    if (typeof c === "string") wanted.push(c);
    else problems.push(c);
  }
  if (wanted.length === 0) return { jobs: [], problems };

  const { env, dispose } = await isolatedEnv();
  try {
    const common = [
      "--eval",
      "--strict",
      "--json",
      ...(mode.instantiate ? ["--read-write-mode", "--store", opts.storeRoot] : ["--store", "dummy://"]),
      ...sandboxArgs(ctx),
      join(ctx.nixDir, "jobs.nix"),
      "--arg",
      "repo",
      nixPathExpr(ctx.root),
      "--arg",
      "busybox",
      nixPathExpr(ctx.busybox),
      ...(ctx.base ? ["--arg", "basePath", nixPathExpr(ctx.base)] : []),
      "--argstr",
      "system",
      system,
    ];
    const limit = limiter(opts.concurrency ?? defaultConcurrency());
    const outcome = new Map<string, Job | Problem[]>();

    const evalGroup = (group: readonly string[]) =>
      limit(() =>
        runNix(
          // Single packages get the trace: its positions find the package's own line when
          // the error surfaces inside flox's or the base set's files.
          [
            ...common,
            ...(group.length === 1 ? ["--show-trace"] : []),
            "--argstr",
            "namesJson",
            JSON.stringify(group),
          ],
          env,
          limits,
        ),
      );

    const record = (stdout: string) => {
      for (const [attr, value] of Object.entries(readJobsJson(stdout))) {
        if ("notDerivation" in value) {
          outcome.set(attr, [
            {
              path: `pkgs/${attr}/default.nix`,
              line: 1,
              message: `evaluates to ${typeNames[value.notDerivation] ?? value.notDerivation}, not a derivation`,
              hint: "a package file is a function of its dependencies returning one package, e.g. { stdenv }: stdenv.mkDerivation { … }",
            },
          ]);
        } else {
          outcome.set(attr, { attr, ...value });
        }
      }
    };

    const single = async (name: string) => {
      const r = await evalGroup([name]);
      if (r.ok) record(r.stdout);
      else outcome.set(name, await failureProblems(name, r, ctx, opts, env, limits));
    };

    const all = await evalGroup(wanted);
    if (all.ok) {
      record(all.stdout);
    } else if (all.timedOut || all.outOfMemory || wanted.length <= 8) {
      // Splitting a group that hit a limit would pay it once per level: go straight to singles.
      await Promise.all(wanted.map(single));
    } else {
      const size = Math.ceil(Math.sqrt(wanted.length));
      const chunks: string[][] = [];
      for (let i = 0; i < wanted.length; i += size) chunks.push(wanted.slice(i, i + size));
      await Promise.all(
        chunks.map(async (chunk) => {
          const r = await evalGroup(chunk);
          if (r.ok) record(r.stdout);
          else await Promise.all(chunk.map(single));
        }),
      );
    }

    const jobs: Job[] = [];
    for (const name of wanted) {
      const o = outcome.get(name);
      if (o === undefined) throw new NixOutputError(`nix-instantiate said nothing about package ${name}`);
      if (Array.isArray(o)) problems.push(...o);
      else jobs.push(o);
    }
    return { jobs, problems: dedupe(problems) };
  } finally {
    await dispose();
  }
}

function sandboxArgs(ctx: Ctx): string[] {
  return [
    "--option",
    "restrict-eval",
    "true",
    "--option",
    "allow-import-from-derivation",
    "false",
    "--option",
    "allowed-uris",
    "",
    "--option",
    "allow-unsafe-native-code-during-evaluation",
    "false",
    "--option",
    "substituters",
    "",
    // Under restrict-eval these are the only readable paths.
    "-I",
    `flox=${ctx.nixDir}`,
    "-I",
    `repo=${ctx.root}`,
    "-I",
    `busybox=${ctx.busybox}`,
    ...(ctx.base ? ["-I", `nixpkgs=${ctx.base}`] : []),
  ];
}

type JobJson = Omit<Job, "attr"> | { notDerivation: string };

function readJobsJson(stdout: string): Record<string, JobJson> {
  let data: unknown;
  try {
    data = JSON.parse(stdout);
  } catch {
    throw new NixOutputError(`nix-instantiate printed no JSON: ${stdout.slice(0, 200)}`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new NixOutputError("nix-instantiate printed JSON that is not an object");
  }
  for (const [attr, v] of Object.entries(data as Record<string, unknown>)) {
    const ok =
      typeof v === "object" &&
      v !== null &&
      (typeof (v as { notDerivation?: unknown }).notDerivation === "string" ||
        (typeof (v as Job).drvPath === "string" &&
          typeof (v as Job).name === "string" &&
          typeof (v as Job).system === "string" &&
          typeof (v as Job).outputs === "object"));
    if (!ok) throw new NixOutputError(`unexpected evaluation result for ${attr}: ${JSON.stringify(v)}`);
  }
  return data as Record<string, JobJson>;
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = formatProblem(p);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

async function failureProblems(
  name: string,
  r: NixRun,
  ctx: Ctx,
  opts: EvalOptions,
  env: Record<string, string>,
  limits: RunLimits,
): Promise<Problem[]> {
  const own = `pkgs/${name}/default.nix`;
  if (r.timedOut) {
    return [
      {
        path: own,
        line: 1,
        message: `evaluation timed out after ${Math.round(limits.timeoutMs / 1000)}s`,
        hint: "look for unbounded recursion or a computation that never ends",
      },
    ];
  }
  if (r.outOfMemory) {
    return [
      {
        path: own,
        line: 1,
        message: `evaluation ran out of memory (limit ${formatMemory(limits.memoryBytes)})`,
        hint:
          "look for a huge list, string or recursion built at evaluation time; if the package really needs more, " +
          "the server's admin can raise the limit with flox server --eval-memory BYTES (FLOX_EVAL_MEMORY)",
      },
    ];
  }
  const err = parseNixError(r.stderr);
  if (!err) {
    return [
      {
        path: own,
        line: 1,
        message: lastLine(r.stderr) || `nix-instantiate failed (exit ${r.exitCode ?? "signal"})`,
      },
    ];
  }
  // Nix 2.8 gives `throw` and `abort` no position: find where that message is written.
  const pos =
    [...err.inMessage, ...err.at].find((p) => isInside(ctx.root, p.file)) ??
    (await findThrow(ctx.root, name, err.message));
  const problem: Problem = {
    path: pos ? toRepoPath(ctx.root, pos.file) : own,
    line: pos?.line ?? 1,
    message: scrubPaths(err.message, ctx),
  };

  const missingArg = /called without required argument '([^']+)'$/.exec(err.message);
  if (missingArg && pos) {
    const arg = missingArg[1] ?? "";
    problem.message = `called without required argument '${arg}'`;
    problem.line = (await lineOfWord(pos.file, arg)) ?? pos.line;
    problem.hint = await missingArgHint(arg, ctx, opts, env, limits);
    return [problem];
  }
  Object.assign(problem, hintFor(err.message));
  return [problem];
}

/** The line of a .nix file of the package (or of lib/) that holds a `throw`/`abort` with `message`. */
async function findThrow(root: string, name: string, message: string): Promise<Position | undefined> {
  if (message.length < 4) return undefined;
  const files = [
    ...(await nixFilesUnder(join(root, "pkgs", name))),
    ...(await nixFilesUnder(join(root, "lib"))),
  ];
  for (const file of files.slice(0, 200)) {
    const lines = (await readFile(file, "utf8").catch(() => "")).split("\n");
    const index = lines.findIndex((l) => /\b(throw|abort)\b/.test(l) && l.includes(message));
    if (index >= 0) return { file, line: index + 1 };
  }
  return undefined;
}

async function nixFilesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".nix"))
    .map((e) => join(e.parentPath ?? e.path, e.name))
    .sort();
}

/** The first line of `file` where `word` appears as a Nix identifier: for an argument, its declaration. */
async function lineOfWord(file: string, word: string): Promise<number | undefined> {
  const text = await readFile(file, "utf8").catch(() => "");
  const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const re = new RegExp(`(^|[^A-Za-z0-9_'-])${escaped}($|[^A-Za-z0-9_'-])`);
  const index = text.split("\n").findIndex((l) => re.test(l));
  return index >= 0 ? index + 1 : undefined;
}

const baseNamesCache = new Map<string, Promise<string[]>>();

/** The base set's attribute names, for "did you mean" hints (one nix call, on the error path only). */
function baseNames(
  ctx: Ctx,
  opts: EvalOptions,
  env: Record<string, string>,
  limits: RunLimits,
): Promise<string[]> {
  const key = `${ctx.base ?? ""}\0${ctx.busybox}\0${opts.system ?? defaultSystem}`;
  let names = baseNamesCache.get(key);
  if (!names) {
    names = runNix(
      [
        "--eval",
        "--strict",
        "--json",
        "--store",
        "dummy://",
        ...sandboxArgs(ctx),
        "-E",
        `{ busybox, basePath ? null, system }: builtins.attrNames (if basePath != null then import basePath { inherit system; } else import ${nixPathExpr(join(ctx.nixDir, "base"))} { inherit busybox system; })`,
        "--arg",
        "busybox",
        nixPathExpr(ctx.busybox),
        ...(ctx.base ? ["--arg", "basePath", nixPathExpr(ctx.base)] : []),
        "--argstr",
        "system",
        opts.system ?? defaultSystem,
      ],
      env,
      limits,
    ).then((r) => (r.ok ? (JSON.parse(r.stdout) as string[]) : []));
    baseNamesCache.set(key, names);
  }
  return names;
}

async function missingArgHint(
  arg: string,
  ctx: Ctx,
  opts: EvalOptions,
  env: Record<string, string>,
  limits: RunLimits,
): Promise<string> {
  const base = await baseNames(ctx, opts, env, limits);
  const org = await readdir(join(ctx.root, "pkgs")).catch(() => [] as string[]);
  const close = [...new Set([...org, ...base])].filter((n) => n !== arg && similar(n, arg)).slice(0, 5);
  let hint = `no package '${arg}' in pkgs/ or in the base set: declare it in pkgs/${arg}/ or check the spelling`;
  if (close.length) hint += `; did you mean ${close.join(", ")}?`;
  // The bootstrap set is small enough to list; nixpkgs is not.
  if (!ctx.base && base.length > 0) hint += `; available from base: ${base.join(", ")}`;
  return hint;
}

function similar(a: string, b: string): boolean {
  const la = a.toLowerCase();
  const lb = b.toLowerCase();
  if (la.length >= 3 && lb.length >= 3 && (la.includes(lb) || lb.includes(la))) return true;
  return editDistance(la, lb) <= Math.max(1, Math.floor(Math.min(la.length, lb.length) / 4));
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
