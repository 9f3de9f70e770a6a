// The server ↔ git hooks contract: the run file, `/api/v1/internal/*`, and the spool the post-receive hook writes.
import { z } from "zod";
import { BuildState } from "./builds.js";
import { Name, Sha } from "./common.js";
import { EvalProblem, Evaluation } from "./evaluations.js";
import { PushResponse } from "./pushes.js";

/** A full ref name, e.g. `refs/heads/main`. */
const FullRef = z.string().regex(/^refs\/\S+$/, "must be a full ref name such as refs/heads/main");

/** Sent by the post-receive hook, one per updated ref, with the hook secret as Bearer token. */
export const InternalPushBody = z
  .object({
    org: Name,
    ref: FullRef,
    oldSha: Sha,
    newSha: Sha,
    pushOptions: z.array(z.string()).default([]),
  })
  .strict();
export type InternalPushBody = z.input<typeof InternalPushBody>;

/**
 * `POST /internal/hooks/pre-receive` and `/post-receive` (the sh hooks, server/git/hook-routes.ts) take text: git's
 * `old new ref` lines, this line, then one push option a line.
 */
export const OPTIONS_LINE = "push-options";
/** The last line of a pre-receive answer, `flox-hook-exit N`: the hook exits with N; the lines before it are its messages. */
export const HOOK_EXIT = "flox-hook-exit";
/** The line of a post-receive answer once every update is recorded; without it the hook hands them over itself. */
export const HOOK_RECORDED = "flox-hook-recorded";

/**
 * A line of `<repo>/flox-spool.jsonl`: a push the post-receive hook could not hand over (hooks/push-record.ts),
 * taken in by the server when it starts (server/spool.ts). Not strict: a line is a record whatever else it holds.
 */
export const SpooledPush = z.object({
  /** What the hook read from `flox.org` (empty when unset); the server goes by the repo the spool is in. */
  org: z.string().optional(),
  ref: FullRef,
  oldSha: Sha,
  newSha: Sha,
  pushOptions: z.array(z.string()).default([]),
  /** When the hook gave up handing it over; the push is recorded at this time. */
  spooledAt: z.string().datetime(),
  /** Why it could not be handed over. */
  error: z.string().optional(),
});
export type SpooledPush = z.infer<typeof SpooledPush>;

/** The spool, in the repo's git dir: one SpooledPush per line. */
export const SPOOL_FILE = "flox-spool.jsonl";

/**
 * `DATA_DIR/run/hooks.json`, written by the server at every start (mode 0600) and read by the git hooks.
 * Each repo's `git config flox.runFile` points at it.
 */
export const HookRunFile = z.object({
  /** Loopback URL of the running server, e.g. `http://127.0.0.1:8080`. */
  serverUrl: z.string(),
  /** Bearer token for `/api/v1/internal/*`; new at every server start. */
  hookSecret: z.string(),
  /** Largest file a push may contain, in bytes. */
  maxFileSize: z.number().int().positive(),
  /** Most files (and bytes of files) a pushed tree may hold; lib/git-tree's defaults when absent. */
  maxRepoFiles: z.number().int().positive().optional(),
  maxRepoBytes: z.number().int().positive().optional(),
  /** Address space of each nix-instantiate (RLIMIT_AS); lib/limited-command's default when absent. */
  evalMemoryBytes: z.number().int().positive().optional(),
  /** The server's chroot Nix store root (`--store <storeRoot>`). */
  storeRoot: z.string(),
  /** Holds `bin/busybox` and `bin/sh` for the bootstrap base set. */
  busyboxDir: z.string(),
  /** `--base`: a nixpkgs tree to use instead of the bootstrap base set, or null. */
  basePath: z.string().nullable(),
  system: z.string(),
});
export type HookRunFile = z.infer<typeof HookRunFile>;

/** `POST /internal/pushes`: the record, and the evaluation it started (null for tags and deletions). */
export const InternalPushResponse = PushResponse.extend({ evaluation: Evaluation.nullable() });
export type InternalPushResponse = z.infer<typeof InternalPushResponse>;

/** `GET /internal/pushes/:id/evaluation?wait=S`: answered when it finished, or when S seconds passed. */
export const PushEvaluationResponse = z.object({
  evaluation: Evaluation.nullable(),
  problems: z.array(EvalProblem),
});
export type PushEvaluationResponse = z.infer<typeof PushEvaluationResponse>;

/** `POST /internal/receives/waiting`: the hook names its push by org and its `git receive-pack` (its parent). */
export const ReceiveWaitingBody = z.object({ org: Name, pid: z.number().int().positive() }).strict();
export type ReceiveWaitingBody = z.infer<typeof ReceiveWaitingBody>;

/** The push's repo lock is given up; `receive` names the push in the calls that follow. */
export const ReceiveWaitingResponse = z.object({ receive: z.string() });
export type ReceiveWaitingResponse = z.infer<typeof ReceiveWaitingResponse>;

/** `POST /internal/receives/:id/verdict`: `ok: false` makes `git push` print `message` and exit non-zero. */
export const ReceiveVerdictBody = z.object({ ok: z.boolean(), message: z.string().max(4000) }).strict();
export type ReceiveVerdictBody = z.infer<typeof ReceiveVerdictBody>;

/** `delivered`: false when the client is gone (nobody will see it). */
export const ReceiveVerdictResponse = z.object({ delivered: z.boolean() });
export type ReceiveVerdictResponse = z.infer<typeof ReceiveVerdictResponse>;

/** One job of an evaluation followed by `git push -o wait`, and where its build is. */
export const ProgressJob = z.object({
  attr: z.string(),
  build: z.object({ id: z.number().int().positive(), state: BuildState }),
});
export type ProgressJob = z.infer<typeof ProgressJob>;

/** `GET /internal/evaluations/:id/progress?wait=S&since=V&receive=R`: answered when `version` differs from V. */
export const EvaluationProgressResponse = z.object({
  evaluation: Evaluation,
  /** Per-package problems, once the evaluation finished. */
  problems: z.array(EvalProblem),
  jobs: z.array(ProgressJob),
  /** Changes whenever the evaluation's state or one of its builds' states does. */
  version: z.string(),
  /** False once the push `receive` names has lost its client (Ctrl-C): nobody is watching any more. */
  connected: z.boolean(),
});
export type EvaluationProgressResponse = z.infer<typeof EvaluationProgressResponse>;
