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
import { realpath, stat } from "node:fs/promises";
import { join } from "node:path";
import pLimit from "p-limit";
import { DEFAULT_EVAL_MEMORY_BYTES, formatMemory } from "../limited-command.js";
import { nixDir } from "../project-root.js";
import { findThrow, hintFor, lineOfWord, missingArgHint, scrubPaths } from "./hints.js";
import { isInside, lastLine, parseNixError, toRepoPath } from "./nix-errors.js";
import {
  defaultEvalTimeoutMs,
  defaultSystem,
  type EvalOptions,
  type EvalResult,
  formatProblem,
  type Job,
  type Problem,
} from "./results.js";
import {
  type Ctx,
  defaultConcurrency,
  isolatedEnv,
  NixOutputError,
  type NixRun,
  nixPathExpr,
  type RunLimits,
  runNix,
  sandboxArgs,
} from "./run.js";

/** DESIGN.md, "The nixexprs layout". */
const packageName = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

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
    // Bounds nix processes, not tasks, so nested waits cannot deadlock.
    const limit = pLimit(opts.concurrency ?? defaultConcurrency());
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
