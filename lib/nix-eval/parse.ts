// The push gate's first check: every .nix file of the repo parses, each failure reported at its line.
import { lstat, readFile, realpath } from "node:fs/promises";
import { join } from "node:path";
import pLimit from "p-limit";
import { DEFAULT_EVAL_MEMORY_BYTES } from "../limited-command.js";
import { hintFor, scrubPaths } from "./hints.js";
import { isInside, lastLine, type NixError, parseNixError } from "./nix-errors.js";
import { defaultEvalTimeoutMs, type Problem } from "./results.js";
import { defaultConcurrency, isolatedEnv, runNix } from "./run.js";

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
      problems.push(await parseProblem(root, files[failed] as (typeof files)[number], err));
      rest = files.slice(failed + 1);
    }
    // Bounds nix processes, not tasks, so nested waits cannot deadlock.
    const limit = pLimit(options.concurrency ?? defaultConcurrency());
    const one = await Promise.all(
      rest.map((f) =>
        limit(async () => {
          const r = await runNix(["--parse", f.abs], env, { timeoutMs, memoryBytes }, false);
          if (r.ok) return null;
          if (r.timedOut) return { path: f.rel, line: 1, message: "parsing timed out" };
          const e = parseNixError(r.stderr);
          return e
            ? await parseProblem(root, f, e)
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

async function parseProblem(
  root: string,
  file: { rel: string; abs: string },
  err: NixError,
): Promise<Problem> {
  const pos = err.at.find((p) => p.file === file.abs);
  let line = pos?.line ?? 1;
  // Nix 2.26 puts "unexpected end of file" on the empty line after the final newline, 2.8 on the last line.
  if (/end of file/.test(err.message)) {
    const text = await readFile(file.abs, "utf8").catch(() => "");
    line = Math.max(1, Math.min(line, text.replace(/\n$/, "").split("\n").length));
  }
  return {
    path: file.rel,
    line,
    message: scrubPaths(err.message, { root }),
    ...hintFor(err.message),
  };
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
