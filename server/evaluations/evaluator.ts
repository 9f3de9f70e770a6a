// Runs the queued evaluations: one at a time per jobset in push order, a few jobsets side by side. Every state
// change is a database write first, so a killed server resumes at its next start (see start()).
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import type { Logger } from "pino";
import { parseFloxToml } from "../../lib/flox-toml.js";
import {
  checkRepoLimits,
  DEFAULT_MAX_REPO_BYTES,
  DEFAULT_MAX_REPO_FILES,
  git,
  listTree,
  materializeTree,
  type RepoLimits,
  RepoTooLargeError,
  revParse,
} from "../../lib/git-tree.js";
import { evaluatePackages, type Job, type Problem } from "../../lib/nix-eval/index.js";
import { isStorePath } from "../../lib/store-path.js";
import type { Db } from "../db/open.js";
import { LOCK, type ServerLocks } from "../db/server-locks.js";
import { Signals } from "../db/signals.js";
import { evalJobs, evalProblems, evaluations, nowSql } from "../db/tables.js";
import { inTransaction } from "../db/transaction.js";
import { isDatabaseDown } from "../db/unavailable.js";
import { isDiskFull, reportDiskFull } from "../disk-full.js";
import { DiskFullError } from "../errors.js";
import type { GateResults } from "../git/gate-results.js";
import { type DataPaths, repoDir } from "../paths.js";
import {
  type BuildOutcome,
  type IsInStorehouse,
  readDrvClosure,
  registerBuilds,
  storehouseIndex,
} from "./builds.js";
import {
  claimNext,
  type EvaluationRow,
  findEvaluation,
  finishedStates,
  giveBackAttempt,
  MAX_EVALUATION_ATTEMPTS,
  requeueRunning,
  runningEvaluations,
} from "./data.js";

export interface EvaluatorOptions {
  db: Db;
  paths: DataPaths;
  logger: Logger;
  basePath?: string | null | undefined;
  system?: string | undefined;
  /** Default: the Storehouse's index (cache_paths). */
  isInStorehouse?: IsInStorehouse;
  /** Jobsets evaluated side by side, default 2. */
  concurrency?: number;
  /** `--max-repo-files`, `--max-repo-size`: a commit past them (pushed before they were lowered) is failed. */
  repoLimits?: RepoLimits;
  /** `--eval-memory`: address space of each nix-instantiate. */
  memoryBytes?: number | undefined;
  /**
   * Puts the .drv closures of the builds an evaluation queued into the Storehouse, so that builders can
   * substitute them. One server: runs after the evaluation is recorded, in the background; the claim route does
   * it again (idempotently) for any build it hands out, so a failure here costs time, never correctness. Several
   * servers (`locks`): runs before, see #publishBeforeQueueing.
   */
  publishDrvs?: (drvPaths: string[], signal: AbortSignal) => Promise<unknown>;
  /** Called after an evaluation's results are recorded (channels may advance). */
  onRecorded?: () => void;
  /**
   * Wakes builders when builds are queued, and `-o wait` when an evaluation finishes; hears of evaluations queued
   * or finished on other servers (PostgreSQL). Default: this process only.
   */
  signals?: Signals;
  /** Several servers on one PostgreSQL: who runs which evaluation, and who is the leader. Absent: one server. */
  locks?: ServerLocks;
  /**
   * What this server's push gate evaluated (server/git/hook-routes.ts): a commit whose tree it judged clean moments
   * ago is not evaluated again when every .drv it named is in the store.
   */
  gateResults?: GateResults;
  /** Tests only: a pause after an evaluation is marked running, so a test can kill the server mid-way. */
  startDelayMs?: number;
}

/** The evaluation of a commit could not be done at all (not a per-package problem). */
export class EvaluationError extends Error {
  override name = "EvaluationError";
}

/** How often the leader looks for evaluations whose server died, and how old a claim must be to count. */
const ORPHAN_CHECK_MS = 3000;
const ORPHAN_GRACE_MS = 10_000;

/** `-o wait` looks at its evaluation at least this often, woken or not. */
const WAIT_RECHECK_MS = 2000;

/** How soon a database write that failed (a full disk) is tried again. */
const RETRY_MS = 30_000;

export class Evaluator {
  readonly #o: EvaluatorOptions;
  /** An injected index (tests); by default the Storehouse's, read through the recording transaction. */
  readonly #isIn: IsInStorehouse | undefined;
  readonly #signals: Signals;
  readonly #running = new Set<Promise<void>>();
  readonly #runningIds = new Set<number>();
  #started = false;
  #retryKick: NodeJS.Timeout | undefined;
  /** A kick is taking work; another asked for meanwhile makes it look once more (no two claim side by side). */
  #kicking = false;
  #kickAgain = false;
  #unsubscribe: (() => void) | undefined;
  #orphanTimer: NodeJS.Timeout | undefined;
  /** No new evaluations start, and waiters are let go. */
  #stopping = false;
  /** Past the grace period: the database may be closed, so late results are dropped (and redone at the next start). */
  #closed = false;
  /** Aborted by close(): background publishes stop (their nix-store is killed) before the server exits. */
  readonly #closing = new AbortController();
  readonly #publishing = new Set<Promise<unknown>>();

  constructor(options: EvaluatorOptions) {
    this.#o = options;
    this.#isIn = options.isInStorehouse;
    this.#signals = options.signals ?? new Signals();
  }

  /**
   * Re-queues what a previous run left `running` (one that was under way at MAX_EVALUATION_ATTEMPTS starts is
   * failed instead: it may be what killed them), then works through the queue.
   */
  async start(): Promise<void> {
    await this.#requeueOrphans();
    this.#started = true;
    // An evaluation queued by another server (or one freeing a slot there) may be ours to take.
    this.#unsubscribe = this.#signals.on("evaluation", () => void this.kick());
    // Several servers: the leader looks for evaluations whose server died, and hands them to whoever is free. It
    // also looks at the queue itself: an evaluation whose server died between queueing it and signalling it (the
    // notify goes after the commit) would otherwise wait for the next push.
    if (this.#o.locks) {
      this.#orphanTimer = setInterval(() => {
        if (!this.#o.locks?.leading || this.#stopping) return;
        this.#requeueOrphans()
          .then(async (n) => {
            if (n > 0) this.#signals.publish("evaluation");
            await this.kick();
          })
          .catch((err: unknown) => this.#o.logger.error({ err }, "looking for orphaned evaluations failed"));
      }, ORPHAN_CHECK_MS);
      this.#orphanTimer.unref();
    }
    await this.kick();
  }

  /**
   * Requeues the evaluations left `running` by a server that is gone: every one at a lone server's start; with
   * several servers, those whose evaluation lock no live server holds (and that did not start a moment ago: the
   * lock is taken just after the claim). Answers how many.
   */
  async #requeueOrphans(): Promise<number> {
    const locks = this.#o.locks;
    let only: number[] | undefined;
    if (locks) {
      only = [];
      const settled = new Date(Date.now() - ORPHAN_GRACE_MS).toISOString();
      for (const e of await runningEvaluations(this.#o.db)) {
        if (this.#runningIds.has(e.id) || (e.startedAt && e.startedAt > settled)) continue;
        if (!(await locks.heldElsewhere(LOCK.evaluation(e.id)))) only.push(e.id);
      }
    }
    const { requeued, failed } = await requeueRunning(this.#o.db, only);
    if (requeued > 0)
      this.#o.logger.warn({ requeued }, "evaluations left running by a server that stopped re-queued");
    if (failed.length > 0)
      this.#o.logger.error(
        { evaluations: failed, attempts: MAX_EVALUATION_ATTEMPTS },
        "evaluations under way at every one of the last server stops failed instead of re-queued",
      );
    return requeued + failed.length;
  }

  /** Something may have been queued: start what can start. */
  async kick(): Promise<void> {
    if (!this.#started || this.#stopping) return;
    if (this.#kicking) {
      this.#kickAgain = true;
      return;
    }
    this.#kicking = true;
    try {
      do {
        this.#kickAgain = false;
        await this.#takeWork();
      } while (this.#kickAgain && !this.#stopping);
    } finally {
      this.#kicking = false;
    }
  }

  async #takeWork(): Promise<void> {
    while (this.#running.size < (this.#o.concurrency ?? 2) && !this.#stopping) {
      let next: EvaluationRow | undefined;
      try {
        next = await claimNext(this.#o.db);
      } catch (err) {
        // The database could not be written (a full disk): nothing was claimed; look again in a while.
        if (isDiskFull(err)) reportDiskFull(this.#o.logger, this.#o.paths.dataDir, err);
        else this.#o.logger.error({ err }, "could not claim an evaluation");
        this.#retryKick ??= setTimeout(async () => {
          this.#retryKick = undefined;
          await this.kick();
        }, RETRY_MS).unref();
        return;
      }
      if (!next) return;
      this.#runningIds.add(next.id);
      await this.#o.locks?.tryHold(LOCK.evaluation(next.id)).catch(() => false);
      const run: Promise<void> = this.#run(next)
        .catch((err) => {
          // #run records its own failures; this is a fault in that (the database, the log): never fatal.
          this.#o.logger.error({ err, evaluation: next.id }, "evaluation bookkeeping failed");
        })
        .finally(async () => {
          this.#runningIds.delete(next.id);
          this.#running.delete(run);
          await this.#o.locks?.release(LOCK.evaluation(next.id));
          this.#signals.publish("evaluation", next.id);
          await this.kick();
        });
      this.#running.add(run);
    }
  }

  /** Resolves when evaluation `id` has finished, or after `timeoutMs`, whichever comes first. */
  async waitFinished(id: number, timeoutMs: number): Promise<void> {
    const done = async () => {
      const e = await findEvaluation(this.#o.db, id);
      return !e || finishedStates.includes(e.state);
    };
    const until = Date.now() + timeoutMs;
    // Woken by its signal (from whichever server ran it); the recheck covers a signal lost on the way.
    while (!this.#stopping && Date.now() < until && !(await done())) {
      await this.#signals.next(
        "evaluation",
        Math.min(WAIT_RECHECK_MS, until - Date.now()),
        this.#closing.signal,
        id,
      );
    }
  }

  /** Stops starting evaluations; waits up to `graceMs` for running ones (those not done are re-queued at the next start). */
  async close(graceMs = 10_000): Promise<void> {
    this.#stopping = true;
    this.#unsubscribe?.();
    clearInterval(this.#orphanTimer);
    // A publish is redone at claim time: stopped now, it leaves no process writing into the data dir.
    this.#closing.abort();
    if (this.#running.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.#running]),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
    }
    // A clean stop is no crash: what it cut short keeps its attempt (start() re-queues it).
    for (const id of this.#runningIds) await giveBackAttempt(this.#o.db, id);
    this.#closed = true;
    await Promise.allSettled([...this.#publishing]);
  }

  async #run(e: EvaluationRow): Promise<void> {
    const log = this.#o.logger.child({ evaluation: e.id, commit: e.commitSha });
    try {
      if (this.#o.startDelayMs) await new Promise((r) => setTimeout(r, this.#o.startDelayMs));
      const result = await this.#evaluate(e);
      if (this.#closed) return;
      // Nix reports a write that found no room as a problem of each package; it is the server's, not theirs.
      if (result.problems.some((p) => isDiskFull(p))) throw new DiskFullError(this.#o.paths.dataDir); // the database may be closed: the next start re-queues and redoes it
      const graph = await readDrvClosure(
        this.#o.paths.nixRoot,
        result.jobs.map((j) => j.drvPath),
      );
      if (this.#closed) return;
      const publishedFirst = await this.#publishBeforeQueueing(
        result.jobs.map((j) => j.drvPath),
        log,
      );
      if (this.#closed) return;
      const { counts, queued } = await this.#record(e, result, graph);
      if (queued.length > 0) this.#signals.publish("queue"); // wakes builders waiting in a long-poll claim
      log.info({ ...counts, problems: result.problems.length }, "evaluation finished");
      this.#o.onRecorded?.();
      if (!publishedFirst && queued.length > 0 && this.#o.publishDrvs && !this.#closing.signal.aborted) {
        const started = Date.now();
        const publishing = this.#o
          .publishDrvs(queued, this.#closing.signal)
          .then(() => log.info({ drvs: queued.length, ms: Date.now() - started }, ".drv closures published"))
          .catch((err) => {
            if (!this.#closing.signal.aborted)
              log.warn({ err }, "publishing .drv closures failed; the claim will retry");
          })
          .finally(() => this.#publishing.delete(publishing));
        this.#publishing.add(publishing);
      }
    } catch (err) {
      if (this.#closed) return;
      // PostgreSQL went away mid-way: nothing of the result was recorded (#record is one transaction), and the
      // commit is as good as before. The evaluation stays running with its lock let go, so the leader's look for
      // orphans requeues it once the database is back, and it runs again instead of failing for the database's sake.
      if (isDatabaseDown(err)) {
        log.warn({ err }, "the database went away during the evaluation; it is requeued once it is back");
        return;
      }
      // A full disk fails the evaluation with that reason (push again, or restart it, once there is room).
      const full = isDiskFull(err);
      if (full) reportDiskFull(this.#o.logger, this.#o.paths.dataDir, err);
      const message = full
        ? new DiskFullError(this.#o.paths.dataDir).message
        : err instanceof EvaluationError
          ? err.message
          : `evaluation failed: ${(err as Error).message}`;
      log.error({ err }, "evaluation failed");
      await this.#fail(e.id, message);
    }
  }

  /**
   * Several servers: the .drvs are in this server's nix-root only, and any server may hand the builds out. Were
   * they queued first, a kill -9 of this server before its background publish ended would leave builds no server
   * can give a builder (each claim waits for the .drvs in vain and the lease runs out, until the build is aborted).
   * Published first, a kill leaves the evaluation running, and the leader re-queues it. A store that fails now
   * leaves the old way (queued, the publish retried after and at claim time). True when published.
   */
  async #publishBeforeQueueing(drvPaths: string[], log: Logger): Promise<boolean> {
    if (!this.#o.locks || !this.#o.publishDrvs || drvPaths.length === 0) return false;
    const started = Date.now();
    try {
      await this.#o.publishDrvs(drvPaths, this.#closing.signal);
      log.info({ drvs: drvPaths.length, ms: Date.now() - started }, ".drv closures published");
      return true;
    } catch (err) {
      if (!this.#closing.signal.aborted)
        log.warn(
          { err },
          "publishing .drv closures before queueing their builds failed; queueing them anyway",
        );
      return false;
    }
  }

  /** Records the failure; on a disk too full for even that, tries again later (a restart re-queues it anyway). */
  async #fail(id: number, message: string): Promise<void> {
    try {
      await this.#o.db
        .update(evaluations)
        .set({ state: "failed", error: message, finishedAt: nowSql })
        .where(eq(evaluations.id, id));
    } catch (err) {
      if (this.#closed) return;
      if (isDiskFull(err)) reportDiskFull(this.#o.logger, this.#o.paths.dataDir, err);
      else this.#o.logger.error({ err, evaluation: id }, "could not record an evaluation's failure");
      setTimeout(() => this.#fail(id, message), RETRY_MS).unref();
    }
  }

  async #evaluate(e: EvaluationRow): Promise<{ jobs: Job[]; problems: Problem[]; gate: string[] | null }> {
    const org = (await findEvaluation(this.#o.db, e.id))?.org;
    if (!org) throw new EvaluationError(`evaluation #${e.id} has no org any more`);
    const gated = await this.#fromGate(org, e.commitSha);
    if (gated) {
      this.#o.logger.info({ evaluation: e.id, jobs: gated.jobs.length }, "the push gate's evaluation taken");
      return gated;
    }
    const work = await mkdtemp(join(tmpdir(), "flox-evaluation-"));
    try {
      const tree = join(work, "tree");
      await checkOut(
        repoDir(this.#o.paths.repos, org),
        e.commitSha,
        tree,
        this.#o.repoLimits ?? { maxFiles: DEFAULT_MAX_REPO_FILES, maxBytes: DEFAULT_MAX_REPO_BYTES },
      );
      const names = await packageNames(tree);
      const settings = await readSettings(tree, names);
      if (names.length === 0) return { jobs: [], problems: settings.problems, gate: settings.gate };
      const result = await evaluatePackages(
        {
          repoDir: tree,
          storeRoot: this.#o.paths.nixRoot,
          busyboxDir: this.#o.paths.busybox,
          ...(this.#o.basePath ? { basePath: this.#o.basePath } : {}),
          ...(this.#o.system ? { system: this.#o.system } : {}),
          ...(this.#o.memoryBytes ? { memoryBytes: this.#o.memoryBytes } : {}),
        },
        names,
        { instantiate: true },
      );
      return { ...result, problems: [...settings.problems, ...result.problems], gate: settings.gate };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * The evaluation of the commit as the push gate left it, when the gate ran here with this evaluator's settings on
   * the commit's tree (the same function of the same bytes: a tree id names its content) and every .drv it named is
   * in the store. The gate passed the tree, so its packages are the pkgs/ directories and flox.toml (read straight
   * from git: no checkout needed) has no problem; a symlinked flox.toml takes the checkout's way, which reads through.
   */
  async #fromGate(
    org: string,
    commit: string,
  ): Promise<{ jobs: Job[]; problems: Problem[]; gate: string[] | null } | undefined> {
    if (!this.#o.gateResults) return undefined;
    const repo = { cwd: repoDir(this.#o.paths.repos, org) };
    const tree = await revParse(`${commit}^{tree}`, repo);
    const result = tree ? this.#o.gateResults.get(org, tree) : undefined;
    if (!result || result.jobs.map((j) => j.attr).join("\0") !== result.packages.join("\0")) return undefined;
    for (const job of result.jobs) {
      if (!isStorePath(job.drvPath)) return undefined;
      const there = await stat(join(this.#o.paths.nixRoot, job.drvPath)).catch(() => null);
      if (!there?.isFile()) return undefined;
    }
    const entry = /^(\d{6}) blob ([0-9a-f]+)\t/.exec(await git(["ls-tree", commit, "--", "flox.toml"], repo));
    if (entry && entry[1] !== "100644" && entry[1] !== "100755") return undefined;
    const text = entry?.[2] ? await git(["cat-file", "blob", entry[2]], repo) : null;
    const settings = settingsOf(text, result.packages);
    return { jobs: result.jobs, problems: settings.problems, gate: settings.gate };
  }

  /** Jobs, problems, builds and the verdict in one transaction: a crash leaves all of it or none. */
  async #record(
    e: EvaluationRow,
    { jobs, problems, gate }: { jobs: readonly Job[]; problems: readonly Problem[]; gate: string[] | null },
    graph: Awaited<ReturnType<typeof readDrvClosure>>,
  ): Promise<{ counts: Record<BuildOutcome, number>; queued: string[] }> {
    return inTransaction(this.#o.db, async (tx) => {
      // Through `tx`: a read on another pool connection inside this transaction waits for a free connection, and
      // on PostgreSQL every one can be held by a transaction queued behind this one's advisory lock (a deadlock).
      const registered = await registerBuilds(tx, jobs, graph, this.#isIn ?? storehouseIndex(tx));
      const counts: Record<BuildOutcome, number> = { new: 0, shared: 0, cached: 0, failed: 0 };
      const queued: string[] = [];
      for (const [i, job] of jobs.entries()) {
        const r = registered[i];
        if (!r) continue;
        counts[r.outcome]++;
        if (r.outcome === "new") queued.push(job.drvPath);
        await tx.insert(evalJobs).values({
          evaluationId: e.id,
          attr: job.attr,
          name: job.name,
          system: job.system,
          drvPath: job.drvPath,
          outputs: job.outputs,
          buildId: r.buildId,
        });
      }
      for (const p of problems) {
        await tx.insert(evalProblems).values({
          evaluationId: e.id,
          attr: /^pkgs\/([^/]+)/.exec(p.path)?.[1] ?? null,
          path: p.path,
          line: p.line,
          message: p.message,
          hint: p.hint ?? null,
        });
      }
      await tx
        .update(evaluations)
        .set({
          state: "succeeded",
          error: null,
          channelGate: gate,
          jobCount: jobs.length,
          problemCount: problems.length,
          newBuilds: counts.new,
          sharedBuilds: counts.shared,
          cachedBuilds: counts.cached,
          failedBuilds: counts.failed,
          finishedAt: nowSql,
        })
        .where(eq(evaluations.id, e.id));
      return { counts, queued };
    });
  }
}

/**
 * The commit's tree as files, written from raw blobs as the gate wrote it (lib/git-tree.ts): the same bytes the
 * gate judged (git archive would apply the tree's own export-ignore/export-subst), streamed one chunk at a time
 * (git archive | tar through execa held the whole archive in memory: a 123 MB repo aborted the server). By
 * post-receive the objects are out of quarantine and the refs updated, so the plain repo has the commit.
 */
export async function checkOut(repo: string, sha: string, dest: string, limits: RepoLimits): Promise<void> {
  await mkdir(dest, { recursive: true });
  try {
    const entries = await listTree(sha, { cwd: repo });
    // The gate refuses such trees; this one came before the limits were lowered, or around the gate.
    checkRepoLimits(entries, limits);
    await materializeTree(entries, dest, { cwd: repo, maxTotalBytes: limits.maxBytes });
  } catch (err) {
    if (err instanceof RepoTooLargeError) {
      throw new EvaluationError(
        `${err.message}; the server does not evaluate it (raise the limit with flox server ${err.what === "files" ? "--max-repo-files" : "--max-repo-size"})`,
      );
    }
    throw new EvaluationError(`could not check out commit ${sha.slice(0, 7)}: ${(err as Error).message}`);
  }
}

/** The commit's flox.toml (the gate checked it; a problem here is recorded, and the default policy used). */
async function readSettings(
  tree: string,
  names: string[],
): Promise<{ gate: string[] | null; problems: Problem[] }> {
  return settingsOf(await readFile(join(tree, "flox.toml"), "utf8").catch(() => null), names);
}

/** flox.toml's text (null: there is none) as the evaluation records it. */
function settingsOf(text: string | null, names: string[]): { gate: string[] | null; problems: Problem[] } {
  if (text === null) return { gate: null, problems: [] };
  const { settings, problems } = parseFloxToml(text, names);
  return { gate: settings.channel.gate, problems: problems.map((p) => ({ path: "flox.toml", ...p })) };
}

/** The package names: directories under pkgs/ (the gate made sure each has a default.nix). */
async function packageNames(tree: string): Promise<string[]> {
  const entries = await readdir(join(tree, "pkgs"), { withFileTypes: true }).catch(() => []);
  return entries
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}
