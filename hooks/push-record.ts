/**
 * What the `post-receive` hook (hooks/post-receive.ts) does: hands every accepted ref update to the server
 * (`POST /api/v1/internal/pushes`), which keeps a durable record of it and queues its evaluation; then waits
 * (bounded) for each evaluation to finish and prints it, so the push shows what CI made of it. With `-o wait` it
 * waits without a bound for the evaluations and their builds instead (push-wait.ts).
 *
 * The refs have already moved when this runs, so it never fails the push. When the server cannot
 * take the record, the hook appends it to `<GIT_DIR>/flox-spool.jsonl` (flushed to disk) and warns;
 * the server also reconciles its records with the refs when it starts, so nothing is lost.
 */
import { open } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { describeErrorAnswer } from "../lib/api/errors.js";
import type { EvalProblem, Evaluation } from "../lib/api/evaluations.js";
import {
  type InternalPushBody,
  InternalPushResponse,
  PushEvaluationResponse,
  SPOOL_FILE,
  type SpooledPush,
} from "../lib/api/internal.js";
import { git, gitConfig } from "../lib/git-tree.js";
import { retry } from "../lib/retry.js";
import { parseUpdates, readPushOptions } from "./hook-input.js";
import { holdPushOpen, WAIT_OPTION, waitForResults } from "./push-wait.js";
import { readRunFile } from "./run-file.js";

/** The server answered, but not with the record (a 4xx is not worth retrying). */
export class PushRecordRejectedError extends Error {
  override name = "PushRecordRejectedError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface DeliverOptions {
  /** Attempts in all, default 4. */
  attempts?: number;
  /** Wait before the 2nd attempt, doubled after each, default 250 ms. */
  backoffMs?: number;
  /** Per attempt, default 5000 ms. */
  timeoutMs?: number;
}

/** What the server answered: the push id, and the evaluation it queued (null for tags and deletions). */
export interface Delivered {
  id: number;
  evaluation: Evaluation | null;
}

/** The answer to `POST /internal/pushes`; a server older than evaluations leaves `evaluation` out. */
const PushAnswer = InternalPushResponse.partial({ evaluation: true });

/** POSTs one record; resolves to the server's push id. Retries network errors and 5xx. */
export async function deliverPush(
  serverUrl: string,
  hookSecret: string,
  record: InternalPushBody,
  options: DeliverOptions = {},
): Promise<number> {
  return (await deliverPushRecord(serverUrl, hookSecret, record, options)).id;
}

/** As deliverPush, with the evaluation the push queued. */
export async function deliverPushRecord(
  serverUrl: string,
  hookSecret: string,
  record: InternalPushBody,
  options: DeliverOptions = {},
): Promise<Delivered> {
  return retry(
    async () => {
      const res = await fetch(new URL("/api/v1/internal/pushes", serverUrl), {
        method: "POST",
        headers: { authorization: `Bearer ${hookSecret}`, "content-type": "application/json" },
        body: JSON.stringify(record),
        signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
      });
      const text = await res.text();
      if (res.ok) {
        const answer = PushAnswer.safeParse(JSON.parse(text));
        if (!answer.success)
          throw new PushRecordRejectedError(res.status, "the server's answer is not a push record");
        return { id: answer.data.push.id, evaluation: answer.data.evaluation ?? null };
      }
      throw new PushRecordRejectedError(res.status, describeErrorAnswer(res.status, text));
    },
    {
      attempts: options.attempts ?? 4,
      firstDelayMs: options.backoffMs ?? 250,
      shouldRetry: (err) => !(err instanceof PushRecordRejectedError && err.status < 500),
    },
  );
}

/** Appends the record to the spool and flushes it, so that it survives a crash right after. */
export async function spoolPush(gitDir: string, record: InternalPushBody, error: string): Promise<string> {
  const file = join(gitDir, SPOOL_FILE);
  const line: SpooledPush = {
    ...record,
    pushOptions: record.pushOptions ?? [],
    spooledAt: new Date().toISOString(),
    error,
  };
  const handle = await open(file, "a", 0o600);
  try {
    // One write of one line: appends of concurrent hooks do not interleave within it.
    await handle.write(`${JSON.stringify(line)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return file;
}

export interface PostReceiveIO {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  write(line: string): void;
  deliver?: DeliverOptions;
  /** How long the push waits for its evaluations in all, default 120 s; then they go on in the background. */
  evalWaitMs?: number;
  /** The `git receive-pack` running this hook (default: our parent process); names the push for `-o wait`. */
  receivePackPid?: number;
}

export const DEFAULT_EVAL_WAIT_MS = 120_000;
/** Seconds per long-poll request: well below any proxy's idle timeout. */
const POLL_SECONDS = 30;

/** `evaluation #N of acme/main at abc1234: J jobs, B to build[, Q already queued], C already built[, F failed before]`. */
export function describeEvaluation(e: Evaluation): string {
  const c = e.counts;
  const parts = [`${c.jobs} job${c.jobs === 1 ? "" : "s"}`, `${c.newBuilds} to build`];
  // Builds another evaluation queued are shared, not built twice: say so instead of counting them as new.
  if (c.sharedBuilds > 0) parts.push(`${c.sharedBuilds} already queued`);
  parts.push(`${c.cachedBuilds} already built`);
  if (c.failedBuilds > 0) parts.push(`${c.failedBuilds} failed before`);
  return `evaluation #${e.id} of ${e.org}/${e.branch} at ${e.commitSha.slice(0, 7)}: ${parts.join(", ")}`;
}

export const evaluationUrl = (serverUrl: string, id: number) =>
  new URL(`/api/v1/evaluations/${id}`, serverUrl).toString();

/**
 * Long-polls `GET /internal/pushes/:id/evaluation?wait=30` until the evaluation finished or `deadline`
 * (ms since the epoch) passed. Resolves to the last answer; null when the server could not be asked.
 */
export async function awaitEvaluation(
  serverUrl: string,
  hookSecret: string,
  pushId: number,
  deadline: number,
): Promise<PushEvaluationResponse | null> {
  let last: PushEvaluationResponse | null = null;
  for (;;) {
    const left = deadline - Date.now();
    const wait = Math.max(0, Math.min(POLL_SECONDS, Math.floor(left / 1000)));
    try {
      const url = new URL(
        `/api/v1/internal/pushes/${encodeURIComponent(String(pushId))}/evaluation`,
        serverUrl,
      );
      url.searchParams.set("wait", String(wait));
      const res = await fetch(url, {
        headers: { authorization: `Bearer ${hookSecret}` },
        signal: AbortSignal.timeout((wait + 10) * 1000),
      });
      if (!res.ok) return last;
      last = PushEvaluationResponse.parse(await res.json());
    } catch {
      return last;
    }
    const state = last.evaluation?.state;
    if (!state || state === "succeeded" || state === "failed" || state === "skipped") return last;
    if (Date.now() >= deadline) return last;
  }
}

const problemLine = (p: EvalProblem) => `${p.path}:${p.line}: ${p.message}${p.hint ? ` (${p.hint})` : ""}`;

/** Hands every update over; always resolves to 0 (the push has happened whatever we do now). */
export async function postReceive(stdin: string, io: PostReceiveIO): Promise<number> {
  const env = io.env ?? process.env;
  const say = (line: string) => io.write(`${line}\n`);
  const updates = parseUpdates(stdin);
  if (updates.length === 0) return 0;
  const pushOptions = readPushOptions(env);
  const gitDir = await findGitDir(io.cwd, env);
  const org = (await gitConfig("flox.org", { cwd: io.cwd })) ?? "";
  const { runFile, missing } = await readRunFile(io.cwd);

  const queued: Array<{ pushId: number; evaluation: Evaluation }> = [];
  /** Branch updates the server did not get: no CI runs for them (yet). */
  const notHandedOver: string[] = [];
  for (const u of updates) {
    const record: InternalPushBody = { org, ref: u.ref, oldSha: u.oldSha, newSha: u.newSha, pushOptions };
    let reason: string;
    if (!org) {
      reason = "flox.org is not set in this repo's git config";
    } else if (!runFile) {
      reason = `no run file: ${missing}`;
    } else {
      try {
        const { id, evaluation } = await deliverPushRecord(
          runFile.serverUrl,
          runFile.hookSecret,
          record,
          io.deliver,
        );
        say(`recorded push #${id} for ${u.ref}`);
        if (evaluation) queued.push({ pushId: id, evaluation });
        continue;
      } catch (err) {
        reason = (err as Error).message;
      }
    }
    if (u.ref.startsWith("refs/heads/") && !/^0+$/.test(u.newSha)) notHandedOver.push(u.ref);
    try {
      const file = await spoolPush(gitDir, record, reason);
      say(
        `flox: warning: could not hand ${u.ref} to the server (${reason}); saved it in ${file}, ` +
          "the server takes it from there when it starts",
      );
    } catch (err) {
      say(
        `flox: warning: could not hand ${u.ref} to the server (${reason}) nor save it ` +
          `(${(err as Error).message}); the server will find the new ref when it starts`,
      );
    }
  }
  if (!runFile) return 0;
  if (pushOptions.includes(WAIT_OPTION) && (queued.length > 0 || notHandedOver.length > 0)) {
    const { serverUrl, hookSecret } = runFile;
    let receive: string | undefined;
    try {
      receive = await holdPushOpen(serverUrl, hookSecret, org, io.receivePackPid ?? process.ppid);
    } catch (err) {
      say(
        `flox: warning: -o wait: cannot keep this push open (${(err as Error).message}); not waiting for builds`,
      );
    }
    if (receive !== undefined) {
      const heartbeatSeconds = Number(env.FLOX_WAIT_HEARTBEAT_SECONDS);
      await waitForResults(
        serverUrl,
        hookSecret,
        receive,
        queued.map((q) => q.evaluation),
        notHandedOver,
        {
          say,
          sayEvaluation: (e, problems) => sayEvaluation(e, problems, serverUrl, say),
          ...(heartbeatSeconds > 0 ? { heartbeatMs: heartbeatSeconds * 1000 } : {}),
        },
      );
      return 0;
    }
  }
  await reportEvaluations(queued, runFile.serverUrl, runFile.hookSecret, io, say);
  return 0;
}

/** Every evaluation the push queued, in order, each once it finished (all within one deadline). */
async function reportEvaluations(
  queued: ReadonlyArray<{ pushId: number; evaluation: Evaluation }>,
  serverUrl: string,
  hookSecret: string,
  io: PostReceiveIO,
  say: (line: string) => void,
): Promise<void> {
  const deadline = Date.now() + (io.evalWaitMs ?? DEFAULT_EVAL_WAIT_MS);
  for (const { pushId, evaluation: first } of queued) {
    if (first.state === "skipped") {
      say("CI skipped (-o skip-ci)");
      continue;
    }
    const answer = await awaitEvaluation(serverUrl, hookSecret, pushId, deadline);
    sayEvaluation(answer?.evaluation ?? first, answer?.problems ?? [], serverUrl, say);
  }
}

/** An evaluation's line (and its problems' lines) as the push shows it. */
export function sayEvaluation(
  e: Evaluation,
  problems: readonly EvalProblem[],
  serverUrl: string,
  say: (line: string) => void,
): void {
  const url = evaluationUrl(serverUrl, e.id);
  const at = `evaluation #${e.id} of ${e.org}/${e.branch} at ${e.commitSha.slice(0, 7)}`;
  if (e.state === "succeeded") {
    say(`${describeEvaluation(e)} — ${url}`);
    for (const p of problems) say(problemLine(p));
  } else if (e.state === "failed") {
    say(`${at} failed: ${e.error ?? "no reason given"} — ${url}`);
  } else if (e.state === "skipped") {
    say("CI skipped (-o skip-ci)");
  } else {
    say(`${at} is still ${e.state}; it continues in the background — ${url}`);
  }
}

async function findGitDir(cwd: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  const base = cwd ?? process.cwd();
  if (env.GIT_DIR) return isAbsolute(env.GIT_DIR) ? env.GIT_DIR : resolve(base, env.GIT_DIR);
  return (await git(["rev-parse", "--absolute-git-dir"], { cwd })).trim();
}
