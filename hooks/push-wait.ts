/**
 * `git push -o wait` (called by push-record.ts's `postReceive`): the push stays open while its evaluations run and
 * their builds are built, streaming progress; when anything failed, the server makes `git push` exit non-zero.
 *
 * 1. `POST /internal/receives/waiting`: names the push (org + our parent, the `git receive-pack` process), and the
 *    server lets other pushes to the repo in — waiting for builds must not hold the repo's push lock.
 * 2. `GET /internal/evaluations/:id/progress` (long-poll) per evaluation, until it and all its builds finished.
 * 3. `POST /internal/receives/:id/verdict` when something failed: the server ends the push's response with a
 *    side-band error, which git prints and exits 1 on (this hook's own exit code does not count).
 */
import type { z } from "zod";
import type { BuildState } from "../lib/api/builds.js";
import { describeErrorAnswer } from "../lib/api/errors.js";
import type { EvalProblem, Evaluation } from "../lib/api/evaluations.js";
import {
  EvaluationProgressResponse,
  type ProgressJob,
  ReceiveVerdictResponse,
  ReceiveWaitingResponse,
} from "../lib/api/internal.js";
import { retry } from "../lib/retry.js";

export const WAIT_OPTION = "wait";

const SUCCESS = new Set<BuildState>(["succeeded", "cached"]);
const PENDING = new Set<BuildState>(["queued", "running"]);
/** Failures with a log worth reading (a dependency-failed or cancelled build never ran). */
const WITH_LOG = new Set<BuildState>(["failed", "timed-out", "aborted"]);
const EVALUATION_DONE = new Set<Evaluation["state"]>(["succeeded", "failed", "skipped"]);

class HookHttpError extends Error {
  override name = "HookHttpError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** One request to the server; the answer is checked by `schema`. */
async function call<S extends z.ZodTypeAny>(
  schema: S,
  serverUrl: string,
  hookSecret: string,
  path: string,
  init: { method?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<z.infer<S>> {
  const res = await fetch(new URL(path, serverUrl), {
    method: init.method ?? "GET",
    headers: {
      authorization: `Bearer ${hookSecret}`,
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(init.timeoutMs ?? 10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new HookHttpError(res.status, describeErrorAnswer(res.status, text));
  return schema.parse(JSON.parse(text));
}

/** Step 1: the server releases the repo's push lock; resolves to the id that names this push from now on. */
export async function holdPushOpen(
  serverUrl: string,
  hookSecret: string,
  org: string,
  pid: number,
): Promise<string> {
  const answer = await call(
    ReceiveWaitingResponse,
    serverUrl,
    hookSecret,
    "/api/v1/internal/receives/waiting",
    {
      method: "POST",
      body: { org, pid },
    },
  );
  return answer.receive;
}

export async function fetchProgress(
  serverUrl: string,
  hookSecret: string,
  evaluationId: number,
  query: { since?: string; waitSeconds: number; receive: string },
): Promise<EvaluationProgressResponse> {
  const params = new URLSearchParams({ wait: String(query.waitSeconds), receive: query.receive });
  if (query.since) params.set("since", query.since);
  return call(
    EvaluationProgressResponse,
    serverUrl,
    hookSecret,
    `/api/v1/internal/evaluations/${evaluationId}/progress?${params}`,
    { timeoutMs: (query.waitSeconds + 15) * 1000 },
  );
}

/** Step 3; resolves to whether the client will see it (false: it is gone). */
export async function sendVerdict(
  serverUrl: string,
  hookSecret: string,
  receive: string,
  verdict: { ok: boolean; message: string },
): Promise<boolean> {
  const answer = await call(
    ReceiveVerdictResponse,
    serverUrl,
    hookSecret,
    `/api/v1/internal/receives/${encodeURIComponent(receive)}/verdict`,
    { method: "POST", body: verdict },
  );
  return answer.delivered;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** `1m05s` */
export function elapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}

/**
 * The build states of one evaluation's jobs as they come in; `update` turns each new snapshot into the lines to
 * print: `[2/5] hello succeeded (build 17)`, `[3/5] broken failed (build 18) — see: flox log 18`,
 * `hello building (build 17)`. Builds finished before the first snapshot are summed up in one line, except
 * failures, which are named.
 */
export class BuildProgress {
  #last = new Map<string, BuildState>();
  #done = 0;
  #jobs: ProgressJob[] = [];

  update(jobs: ProgressJob[]): string[] {
    const lines: string[] = [];
    const total = jobs.length;
    if (this.#last.size === 0) {
      const built = jobs.filter((j) => SUCCESS.has(j.build.state));
      for (const j of built) this.#last.set(j.attr, j.build.state);
      this.#done += built.length;
      if (built.length > 0)
        lines.push(`[${this.#done}/${total}] ${plural(built.length, "package")} already built`);
    }
    this.#jobs = jobs;
    for (const job of jobs) {
      const { attr } = job;
      const { id, state } = job.build;
      const before = this.#last.get(attr);
      this.#last.set(attr, state);
      if (before === state) continue;
      const wasDone = before !== undefined && !PENDING.has(before);
      if (!PENDING.has(state)) {
        if (wasDone) continue;
        this.#done++;
        const log = WITH_LOG.has(state) ? ` — see: flox log ${id}` : "";
        lines.push(`[${this.#done}/${total}] ${attr} ${state} (build ${id})${log}`);
      } else if (wasDone) {
        // Restarted by someone: it is to do again.
        this.#done--;
        lines.push(`${attr} ${state} again (build ${id})`);
      } else if (state === "running") {
        lines.push(`${attr} building (build ${id})`);
      } else if (before === "running") {
        lines.push(`${attr} back in the queue (build ${id})`);
      }
    }
    return lines;
  }

  get finished(): boolean {
    return this.#jobs.every((j) => !PENDING.has(j.build.state));
  }

  get failures(): ProgressJob[] {
    return this.#jobs.filter((j) => !PENDING.has(j.build.state) && !SUCCESS.has(j.build.state));
  }

  /** `waiting for 3 of 5 builds: 1 building, 2 queued` */
  describeWaiting(): string {
    const running = this.#jobs.filter((j) => j.build.state === "running").length;
    const queued = this.#jobs.filter((j) => j.build.state === "queued").length;
    return `waiting for ${running + queued} of ${plural(this.#jobs.length, "build")}: ${running} building, ${queued} queued`;
  }
}

/** `fails (build 18)`, `needs-fails (build 19, dependency-failed)`: the first few, then how many more. */
function nameFailures(failures: ProgressJob[], max = 5): string {
  const named = failures
    .slice(0, max)
    .map((j) => `${j.attr} (build ${j.build.id}${j.build.state === "failed" ? "" : `, ${j.build.state}`})`);
  if (failures.length > max) named.push(`and ${failures.length - max} more`);
  return named.join(", ");
}

/** Tries in a row without any answer (the server's process gone, most likely) before the push stops following. */
const UNANSWERED_TRIES = 4;

export interface WaitIO {
  say(line: string): void;
  /** Prints a finished evaluation as a push without `-o wait` does (push-record.ts). */
  sayEvaluation(e: Evaluation, problems: EvalProblem[]): void;
  /** A line at least this often while nothing else is said, so that proxies keep the push open; default 15 s. */
  heartbeatMs?: number;
  /** Seconds per long-poll; default 15. */
  pollSeconds?: number;
  /**
   * How long the server may answer 5xx (its database away) before the push stops following, default 60 s; no answer
   * at all is tried four times in a row. It asks again `retryMs` (default 1 s) apart, doubling to 5 s.
   */
  outageMs?: number;
  retryMs?: number;
}

/** How one evaluation ended: `summary` is `acme/main at abc1234: …`; `gone` when the client left. */
export interface WaitOutcome {
  ok: boolean;
  gone: boolean;
  summary: string;
}

/** Step 2 for one evaluation: follows it and its builds until all finished, printing as it goes. */
export async function followEvaluation(
  serverUrl: string,
  hookSecret: string,
  receive: string,
  first: Evaluation,
  io: WaitIO,
): Promise<WaitOutcome> {
  const where = `${first.org}/${first.branch} at ${first.commitSha.slice(0, 7)}`;
  if (first.state === "skipped") {
    io.say("CI skipped (-o skip-ci)");
    return { ok: true, gone: false, summary: `${where}: CI skipped` };
  }
  const heartbeatMs = io.heartbeatMs ?? 15_000;
  const started = Date.now();
  let lastSaid = started;
  const say = (line: string) => {
    lastSaid = Date.now();
    io.say(line);
  };
  // Each long-poll ends by the time the next heartbeat is due, so that one is never late by a whole poll.
  const pollSeconds = () =>
    Math.max(1, Math.min(io.pollSeconds ?? 15, Math.ceil((lastSaid + heartbeatMs - Date.now()) / 1000)));
  const heartbeatDue = () => Date.now() >= lastSaid + heartbeatMs - 250;
  const builds = new BuildProgress();
  let evaluationShown = false;
  let since: string | undefined;
  for (;;) {
    let p: EvaluationProgressResponse;
    const refused = (err: Error) => err instanceof HookHttpError && err.status < 500;
    // A server that answers 5xx is alive (its database away) and so is the push's connection through it: that is
    // waited out. One that does not answer at all is most likely gone, and the push's connection with it: four tries.
    let unanswered = 0;
    try {
      p = await retry(
        () => fetchProgress(serverUrl, hookSecret, first.id, { since, waitSeconds: pollSeconds(), receive }),
        {
          attempts: Number.POSITIVE_INFINITY,
          firstDelayMs: io.retryMs ?? 1000,
          maxDelayMs: 5000,
          maxRetryTimeMs: io.outageMs ?? 60_000,
          shouldRetry: (err) => !refused(err) && unanswered < UNANSWERED_TRIES,
          // Said at the heartbeat's pace: the push stays open through proxies, and the user sees why it waits.
          onFailedAttempt: (err) => {
            unanswered = err instanceof HookHttpError ? 0 : unanswered + 1;
            if (!refused(err) && heartbeatDue())
              say(`the server does not answer (${err.message}); still waiting`);
          },
        },
      );
    } catch (err) {
      say(`flox: lost track of evaluation #${first.id} (${(err as Error).message}); it goes on without us`);
      return { ok: false, gone: false, summary: `${where}: could not follow evaluation #${first.id}` };
    }
    if (!p.connected) return { ok: false, gone: true, summary: `${where}: the client left` };
    since = p.version;
    const e = p.evaluation;
    if (!EVALUATION_DONE.has(e.state)) {
      if (heartbeatDue()) say(`evaluation #${e.id} is ${e.state} (${elapsed(Date.now() - started)})`);
      continue;
    }
    if (!evaluationShown) {
      evaluationShown = true;
      lastSaid = Date.now();
      io.sayEvaluation(e, p.problems);
      if (e.state === "skipped") return { ok: true, gone: false, summary: `${where}: CI skipped` };
      if (e.state === "failed") {
        return {
          ok: false,
          gone: false,
          summary: `${where}: evaluation #${e.id} failed: ${e.error ?? "no reason given"}`,
        };
      }
    }
    for (const line of builds.update(p.jobs)) say(line);
    if (builds.finished) {
      const failures = builds.failures;
      const problems = p.problems.length;
      const parts: string[] = [];
      if (failures.length > 0)
        parts.push(
          `${failures.length} of ${plural(p.jobs.length, "build")} failed: ${nameFailures(failures)}`,
        );
      if (problems > 0) parts.push(`${plural(problems, "evaluation problem")} (evaluation #${e.id})`);
      const ok = parts.length === 0;
      const n = p.jobs.length;
      const built =
        n === 0 ? "nothing to build" : n === 1 ? "the build succeeded" : `all ${n} builds succeeded`;
      const summary = `${where}: ${ok ? built : parts.join("; ")}`;
      say(ok ? `CI passed: ${summary}` : `CI failed: ${summary}`);
      return { ok, gone: false, summary };
    }
    if (heartbeatDue()) say(`${builds.describeWaiting()} (${elapsed(Date.now() - started)})`);
  }
}

/**
 * Steps 2 and 3 for the whole push: each evaluation in turn, then the verdict. `notHandedOver` are refs the server
 * never got (CI did not start for them), which fail the push too.
 */
export async function waitForResults(
  serverUrl: string,
  hookSecret: string,
  receive: string,
  evaluations: readonly Evaluation[],
  notHandedOver: readonly string[],
  io: WaitIO,
): Promise<void> {
  const failed: string[] = notHandedOver.map((ref) => `${ref}: not handed to the server, CI did not start`);
  for (const e of evaluations) {
    const outcome = await followEvaluation(serverUrl, hookSecret, receive, e, io);
    if (outcome.gone) return;
    if (!outcome.ok) failed.push(outcome.summary);
  }
  if (failed.length === 0) return;
  const message = `CI failed for this push (its refs were updated): ${failed.join("; ")}`;
  try {
    await sendVerdict(serverUrl, hookSecret, receive, { ok: false, message: message.slice(0, 4000) });
  } catch (err) {
    io.say(`flox: warning: could not fail the push (${(err as Error).message}): ${message}`);
  }
}
