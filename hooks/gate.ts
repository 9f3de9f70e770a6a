/**
 * The push gate for one pushed tree: layout rules, then every `.nix` file parses, then — only when
 * both are clean — every package evaluates to a derivation (DESIGN.md, "The nixexprs layout").
 *
 * The result depends on the tree alone (and the settings), so callers may reuse it for every ref
 * that points at the same tree.
 */
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFloxToml } from "../lib/flox-toml.js";
import {
  checkRepoLimits,
  DEFAULT_MAX_REPO_BYTES,
  DEFAULT_MAX_REPO_FILES,
  type GitTreeEntry,
  listTree,
  materializeTree,
  RepoTooLargeError,
  TreeTooLargeError,
} from "../lib/git-tree.js";
import { evaluatePackages, type Job, parseNixFiles } from "../lib/nix-eval/index.js";
import { checkLayout, formatSize, isUnsafeComponent, type Problem } from "./layout-rules.js";

export interface GateSettings {
  maxFileSize: number;
  storeRoot: string;
  busyboxDir: string;
  basePath: string | null;
  system?: string;
  /** Limit for one evaluation run; the evaluator's default when unset. */
  timeoutMs?: number;
  /** Sanity limit on the bytes written out for Nix; see materializeTree. */
  maxTreeBytes?: number;
  /** The server's repo limits (`--max-repo-files`, `--max-repo-size`): a bigger tree is refused outright. */
  maxRepoFiles?: number;
  maxRepoBytes?: number;
  /** Address space per nix process (`--eval-memory`); lib/limited-command's default when unset. */
  memoryBytes?: number;
  /**
   * Write the .drv files into the store at `storeRoot` while evaluating, as the server's evaluator does, so that it
   * can take the jobs as they are (the server's own gate). Default: read-only, a dummy store, nothing written.
   */
  instantiate?: boolean;
}

export interface GateResult {
  /** Problems in the tree, sorted by path; empty when the tree passes. */
  problems: Problem[];
  /** Package names found under pkgs/ (evaluated when `evaluated`). */
  packages: string[];
  /** Whether the evaluation gate ran (it is skipped while layout or parse problems remain). */
  evaluated: boolean;
  /** What the packages evaluated to (drvPath, outputs), when they did. */
  jobs: Job[];
}

/** The gate could not judge the tree (it is not the tree's fault, or not one file's). */
export class GateError extends Error {
  override name = "GateError";
  constructor(
    message: string,
    /** What the pusher can do about it. */
    readonly hint = "keep big sources out of the repo: fetch them in the derivation (fetchurl with a hash)",
  ) {
    super(message);
  }
}

/** The refusal of a tree past the repo limits: the limit, the repo's figure, and how to raise it. */
export function repoTooLargeGateError(err: RepoTooLargeError): GateError {
  const flag =
    err.what === "files"
      ? "flox server --max-repo-files N (or FLOX_MAX_REPO_FILES)"
      : "flox server --max-repo-size BYTES (or FLOX_MAX_REPO_SIZE)";
  const message =
    err.what === "files"
      ? `the repository holds ${err.figure} files, over this server's limit of ${err.limit} files`
      : `the repository's files add up to ${formatSize(err.figure)}, over this server's limit of ${formatSize(err.limit)}`;
  return new GateError(
    message,
    `keep generated and vendored files out of the repo, or ask the server's admin to raise the limit: ${flag}`,
  );
}

const isBlob = (e: GitTreeEntry) => e.mode === "100644" || e.mode === "100755";

/**
 * Runs the gate over `treeish` (a commit or tree id) of the repository at `repoDir` (default: cwd); `gitEnv` is
 * added to git's environment (the quarantine of a push judged outside its hook).
 */
export async function checkTree(
  treeish: string,
  settings: GateSettings,
  repoDir?: string,
  gitEnv?: Record<string, string>,
): Promise<GateResult> {
  const git = { cwd: repoDir, ...(gitEnv ? { env: gitEnv } : {}) };
  const entries = await listTree(treeish, git);
  try {
    // First: a tree past the limits is not written out, parsed or evaluated at all.
    checkRepoLimits(entries, {
      maxFiles: settings.maxRepoFiles ?? DEFAULT_MAX_REPO_FILES,
      maxBytes: settings.maxRepoBytes ?? DEFAULT_MAX_REPO_BYTES,
    });
  } catch (err) {
    if (err instanceof RepoTooLargeError) throw repoTooLargeGateError(err);
    throw err;
  }
  const layout = checkLayout(entries, { maxFileSize: settings.maxFileSize });
  const packages = [
    ...new Set(
      entries
        .map((e) => /^pkgs\/([^/]+)\/default\.nix$/.exec(e.path)?.[1])
        .filter((name): name is string => name !== undefined),
    ),
  ].sort();
  const safe = entries.filter((e) => !e.path.split("/").some(isUnsafeComponent));
  // Symlinked .nix files are left out: what they point at is parsed under its own name, and a link
  // that leaves the repo must never be read.
  const nixFiles = safe.filter((e) => isBlob(e) && e.path.endsWith(".nix"));

  const work = await mkdtemp(join(tmpdir(), "flox-gate-"));
  try {
    const repo = join(work, "tree");
    await mkdir(repo); // an empty tree writes nothing, and the parser still wants the directory
    // With layout problems the tree is refused anyway: write only what the parser needs, and no
    // oversized files (already reported) — that keeps a bad push quick.
    const toWrite = layout.length === 0 ? safe : nixFiles.filter((e) => e.size <= settings.maxFileSize);
    try {
      await materializeTree(toWrite, repo, { ...git, maxTotalBytes: settings.maxTreeBytes });
    } catch (err) {
      if (err instanceof TreeTooLargeError) {
        throw new GateError(
          `the tree holds ${formatSize(err.totalBytes)} of files, more than the gate checks out ` +
            `(${formatSize(err.limitBytes)})`,
        );
      }
      throw err;
    }
    const written = new Set(toWrite);
    const settingsProblems = await checkSettings(repo, safe, packages);
    // Layout and settings are judged before Nix runs. When they are clean the evaluation runs beside the parse (two
    // nix processes at once instead of one after the other), and counts only when every file parses: the result is
    // the one the two give run in turn. On a parse problem it is left to end (the tree it reads is removed).
    const evaluating =
      layout.length === 0 && settingsProblems.length === 0 && packages.length > 0
        ? evaluatePackages(
            {
              repoDir: repo,
              storeRoot: settings.storeRoot,
              busyboxDir: settings.busyboxDir,
              basePath: settings.basePath ?? undefined,
              system: settings.system,
              timeoutMs: settings.timeoutMs,
              memoryBytes: settings.memoryBytes,
            },
            packages,
            { instantiate: settings.instantiate === true },
          )
        : undefined;
    evaluating?.catch(() => undefined); // awaited below when it counts
    const parsed = await parseNixFiles(
      repo,
      nixFiles.filter((e) => written.has(e)).map((e) => e.path),
      settings.memoryBytes === undefined ? {} : { memoryBytes: settings.memoryBytes },
    );
    const problems = [...layout, ...parsed, ...settingsProblems];
    if (problems.length > 0 || !evaluating) {
      return { problems: sortProblems(problems), packages, evaluated: false, jobs: [] };
    }
    const evaluation = await evaluating;
    return { problems: sortProblems(evaluation.problems), packages, evaluated: true, jobs: evaluation.jobs };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** flox.toml, when the tree has one: valid TOML, known settings, gate jobs that are packages. */
async function checkSettings(repo: string, entries: GitTreeEntry[], packages: string[]): Promise<Problem[]> {
  if (!entries.some((e) => e.path === "flox.toml" && isBlob(e))) return [];
  const text = await readFile(join(repo, "flox.toml"), "utf8").catch(() => null);
  if (text === null) return []; // over the size limit: reported by the layout rules, not written out
  return parseFloxToml(text, packages).problems.map((p) => ({ path: "flox.toml", ...p }));
}

function sortProblems(problems: Problem[]): Problem[] {
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...problems].sort((a, b) => cmp(a.path, b.path) || a.line - b.line || cmp(a.message, b.message));
}
