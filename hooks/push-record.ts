/**
 * What the `post-receive` hook (hooks/post-receive.ts) does: hands every accepted ref update to the server
 * (`POST /api/v1/internal/pushes`), which keeps a durable record of it and starts CI.
 *
 * The refs have already moved when this runs, so it never fails the push. When the server cannot
 * take the record, the hook appends it to `<GIT_DIR>/flox-spool.jsonl` (flushed to disk) and warns;
 * the server also reconciles its records with the refs when it starts, so nothing is lost.
 */
import { open } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { git, gitConfig } from "./git-tree.js";
import { parseUpdates, readPushOptions } from "./hook-input.js";
import { readRunFile } from "./run-file.js";

export const SPOOL_FILE = "flox-spool.jsonl";

/** The body of `POST /api/v1/internal/pushes`. */
export interface PushRecord {
  org: string;
  ref: string;
  oldSha: string;
  newSha: string;
  pushOptions: string[];
}

/** A spooled record: what could not be handed over, when, and why. */
export interface SpooledPush extends PushRecord {
  spooledAt: string;
  error: string;
}

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

/** POSTs one record; resolves to the server's push id. Retries network errors and 5xx. */
export async function deliverPush(
  serverUrl: string,
  hookSecret: string,
  record: PushRecord,
  options: DeliverOptions = {},
): Promise<number | string> {
  const attempts = options.attempts ?? 4;
  let wait = options.backoffMs ?? 250;
  let lastError: Error = new Error("no attempt made");
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await fetch(new URL("/api/v1/internal/pushes", serverUrl), {
        method: "POST",
        headers: { authorization: `Bearer ${hookSecret}`, "content-type": "application/json" },
        body: JSON.stringify(record),
        signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
      });
      const text = await res.text();
      if (res.ok) {
        const id = (JSON.parse(text) as { push?: { id?: number | string } }).push?.id;
        if (id === undefined)
          throw new PushRecordRejectedError(res.status, "the server's answer has no push id");
        return id;
      }
      let message = `HTTP ${res.status}`;
      try {
        const body = JSON.parse(text) as { error?: { message?: string } };
        if (body.error?.message) message += `: ${body.error.message}`;
      } catch {}
      const err = new PushRecordRejectedError(res.status, message);
      if (res.status < 500) throw err;
      lastError = err;
    } catch (err) {
      if (err instanceof PushRecordRejectedError && err.status < 500) throw err;
      lastError = err as Error;
    }
    if (attempt < attempts) {
      await new Promise((r) => setTimeout(r, wait));
      wait *= 2;
    }
  }
  throw lastError;
}

/** Appends the record to the spool and flushes it, so that it survives a crash right after. */
export async function spoolPush(gitDir: string, record: PushRecord, error: string): Promise<string> {
  const file = join(gitDir, SPOOL_FILE);
  const line: SpooledPush = { ...record, spooledAt: new Date().toISOString(), error };
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
}

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

  for (const u of updates) {
    const record: PushRecord = { org, ref: u.ref, oldSha: u.oldSha, newSha: u.newSha, pushOptions };
    let reason: string;
    if (!org) {
      reason = "flox.org is not set in this repo's git config";
    } else if (!runFile) {
      reason = `no run file: ${missing}`;
    } else {
      try {
        const id = await deliverPush(runFile.serverUrl, runFile.hookSecret, record, io.deliver);
        say(`recorded push #${id} for ${u.ref}`);
        continue;
      } catch (err) {
        reason = (err as Error).message;
      }
    }
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
  return 0;
}

async function findGitDir(cwd: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  const base = cwd ?? process.cwd();
  if (env.GIT_DIR) return isAbsolute(env.GIT_DIR) ? env.GIT_DIR : resolve(base, env.GIT_DIR);
  return (await git(["rev-parse", "--absolute-git-dir"], { cwd })).trim();
}
