/**
 * What the `pre-receive` hook (hooks/pre-receive.ts) decides: it refuses a push unless every pushed
 * branch tip passes the gate (hooks/gate.ts), listing every problem as `path:line: message (hint)`
 * (git prefixes `remote: `). git applies a refused push to no ref at all, so one bad ref refuses the
 * whole push.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBusyboxDir } from "../lib/busybox-dir.js";
import { isAncestor, revParse } from "../lib/git-tree.js";
import { checkTree, GateError, type GateResult, type GateSettings } from "./gate.js";
import { type RefUpdate, readPushOptions } from "./hook-input.js";
import { formatProblem, formatSize, type Problem } from "./layout-rules.js";
import { readRunFile } from "./run-file.js";

/** Push options this server understands; others are accepted with a warning. */
export const KNOWN_PUSH_OPTIONS = ["force", "skip-ci", "wait"] as const;

export const DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024;

const isZero = (sha: string) => /^0+$/.test(sha);
const short = (sha: string) => sha.slice(0, 7);

/** What one ref update came to: refused with reasons, or accepted with an optional note. */
interface Verdict {
  update: RefUpdate;
  /** Problems with the ref itself, not with a file: `ref: message (hint)`. */
  refProblems: { message: string; hint: string }[];
  problems: Problem[];
  note?: string;
}

export interface PreReceiveIO {
  cwd?: string;
  /** Where the push options are read (GIT_PUSH_OPTION_*); default: this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Added to every git command's environment: the push's quarantine, when the server judges it in-process. */
  gitEnv?: Record<string, string>;
  /** The gate's settings; default: from the run file (a hook), or defaults when there is none. */
  settings?: GateSettings;
  /** Told each tree's gate result (the server hands a clean tree's jobs to its evaluator). */
  onGate?(tree: string, result: GateResult): void;
  write(line: string): void;
}

/** Checks every update; resolves to the hook's exit code (0 accept, 1 refuse). */
export async function preReceive(updates: RefUpdate[], io: PreReceiveIO): Promise<number> {
  const env = io.env ?? process.env;
  const say = (line: string) => io.write(`${line}\n`);
  const pushOptions = readPushOptions(env);
  for (const option of pushOptions) {
    const key = option.split("=")[0] ?? option;
    if (!(KNOWN_PUSH_OPTIONS as readonly string[]).includes(key)) {
      say(`flox: unknown push option "${option}" ignored (known: ${KNOWN_PUSH_OPTIONS.join(", ")})`);
    }
  }
  const force = pushOptions.includes("force");

  let settings: GateSettings | undefined = io.settings;
  const repo = { cwd: io.cwd, ...(io.gitEnv ? { env: io.gitEnv } : {}) };
  const gateSettings = async (): Promise<GateSettings> => {
    if (settings) return settings;
    const { runFile, missing } = await readRunFile(io.cwd);
    if (runFile) {
      const { evalMemoryBytes, ...rest } = runFile;
      settings = { ...rest, ...(evalMemoryBytes === undefined ? {} : { memoryBytes: evalMemoryBytes }) };
    } else {
      const base = join(tmpdir(), `flox-hook-${process.getuid?.() ?? "user"}`);
      settings = {
        maxFileSize: DEFAULT_MAX_FILE_SIZE,
        storeRoot: join(base, "nix-root"),
        busyboxDir: await ensureBusyboxDir(join(base, "busybox")),
        basePath: null,
      };
      say(
        `flox: no run file (${missing}); checking with defaults: files up to ${formatSize(DEFAULT_MAX_FILE_SIZE)}, ` +
          "the bootstrap base package set",
      );
    }
    return settings;
  };

  // Several refs often point at one tree (a branch and its copy): judge each tree once.
  const byTree = new Map<string, Promise<GateResult>>();
  const verdicts: Verdict[] = [];
  for (const update of updates) {
    const verdict: Verdict = { update, refProblems: [], problems: [] };
    verdicts.push(verdict);
    const { oldSha, newSha, ref } = update;
    if (isZero(newSha)) continue; // deleting a branch or tag is allowed
    if (ref.startsWith("refs/tags/")) continue; // tags are not jobsets: no gate
    if (!ref.startsWith("refs/heads/")) {
      verdict.refProblems.push({
        message: "only branches (refs/heads/*) and tags (refs/tags/*) can be pushed here",
        hint: "push to a branch, e.g. git push origin HEAD:refs/heads/my-branch",
      });
      continue;
    }
    const current = (await revParse(ref, repo)) ?? "0".repeat(oldSha.length);
    if (current !== oldSha) {
      verdict.refProblems.push({
        message: isZero(current)
          ? "the branch was deleted since you fetched it"
          : `the branch moved to ${short(current)} since you fetched it (your push expected ${isZero(oldSha) ? "it not to exist" : short(oldSha)})`,
        hint: "run git fetch, then git pull --rebase (or merge), and push again",
      });
      continue;
    }
    if (ref === "refs/heads/main" && !isZero(oldSha) && !force && !(await isAncestor(oldSha, newSha, repo))) {
      verdict.refProblems.push({
        message: `non-fast-forward push to main: ${short(newSha)} does not contain ${short(oldSha)}, so commits on main would be lost`,
        hint: "git pull --rebase and push again, or if rewriting main is intended, git push --force -o force",
      });
      continue;
    }
    const tree = await revParse(`${newSha}^{tree}`, repo);
    if (!tree) {
      verdict.refProblems.push({
        message: `${short(newSha)} is not a commit`,
        hint: "push a commit to a branch",
      });
      continue;
    }
    let pending = byTree.get(tree);
    if (!pending) {
      pending = gateSettings()
        .then((s) => checkTree(tree, s, io.cwd, io.gitEnv))
        .then((result) => {
          io.onGate?.(tree, result);
          return result;
        });
      byTree.set(tree, pending);
    }
    try {
      const result = await pending;
      verdict.problems = result.problems;
      if (result.problems.length === 0) {
        const n = result.jobs.length;
        verdict.note = `checked ${ref}: ${n} ${n === 1 ? "package evaluates" : "packages evaluate"}`;
      }
    } catch (err) {
      if (!(err instanceof GateError)) throw err;
      verdict.refProblems.push({ message: err.message, hint: err.hint });
    }
  }

  const refused = verdicts.filter((v) => v.refProblems.length + v.problems.length > 0);
  for (const v of verdicts) {
    if (v.note) say(refused.length > 0 ? `${v.note} (not updated: the push as a whole was refused)` : v.note);
  }
  for (const v of refused) {
    for (const p of v.refProblems) say(`${v.update.ref}: ${p.message} (${p.hint})`);
    for (const p of v.problems) say(formatProblem(p));
    const n = v.refProblems.length + v.problems.length;
    say(
      `push refused: ${n} ${n === 1 ? "problem" : "problems"} in ${v.update.ref} at ${short(v.update.newSha)}; ` +
        "nothing was changed",
    );
  }
  return refused.length > 0 ? 1 : 0;
}
