// Evaluations: read by the org's readers or anyone for a public org (/evaluations/:id), awaited by the post-receive hook (/internal/...).
import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { asc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import type { EvalJob, EvalProblem, EvaluationResponse } from "../../lib/api/evaluations.js";
import type { EvaluationProgressResponse, PushEvaluationResponse } from "../../lib/api/internal.js";
import { jobState } from "../builds/wants.js";
import type { Db } from "../db/open.js";
import { builds, evalJobs } from "../db/schema.js";
import { getOrg } from "../domain/orgs.js";
import { mayRead, unreadable } from "../domain/permissions.js";
import { InvalidInputError } from "../errors.js";
import { compareWithPrevious } from "../evaluations/compare.js";
import type { Evaluator } from "../evaluations/evaluator.js";
import {
  type EvaluationRecord,
  evaluationOfPush,
  findEvaluation,
  finishedStates,
  getEvaluation,
  noSuchEvaluation,
  presentEvaluation,
  problemsOf,
} from "../evaluations/records.js";
import { optionalToken, requireHookSecret, tokenOrNull } from "./auth.js";
import type { AppContext, AppEnv } from "./env.js";
import { param } from "./validate.js";

const Id = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/** The hook asks for 30 s at a time; more would only hold a connection that a proxy may cut. */
const MAX_WAIT_SECONDS = 60;
/** How often a progress long-poll looks at the build states again. */
const PROGRESS_POLL_MS = 250;

export function jobsOf(db: Db, evaluationId: number): EvalJob[] {
  return db
    .select({ job: evalJobs, state: jobState })
    .from(evalJobs)
    .innerJoin(builds, eq(builds.id, evalJobs.buildId))
    .where(eq(evalJobs.evaluationId, evaluationId))
    .orderBy(asc(evalJobs.attr))
    .all()
    .map(({ job, state }) => ({
      attr: job.attr,
      name: job.name,
      system: job.system,
      drvPath: job.drvPath,
      outputs: job.outputs,
      build: { id: job.buildId, state },
    }));
}

/** The evaluation's state and its jobs' build states, with a short digest of them that changes with any of them. */
function progressOf(db: Db, evaluationId: number) {
  const evaluation = findEvaluation(db, evaluationId);
  const jobs = db
    .select({ attr: evalJobs.attr, id: builds.id, state: jobState })
    .from(evalJobs)
    .innerJoin(builds, eq(builds.id, evalJobs.buildId))
    .where(eq(evalJobs.evaluationId, evaluationId))
    .orderBy(asc(evalJobs.attr))
    .all()
    .map((j) => ({ attr: j.attr, build: { id: j.id, state: j.state } }));
  const version = createHash("sha256")
    .update(`${evaluation?.state}|${jobs.map((j) => `${j.build.id}:${j.build.state}`).join(",")}`)
    .digest("hex")
    .slice(0, 16);
  return { evaluation, jobs, version };
}

export function presentProblems(db: Db, evaluationId: number): EvalProblem[] {
  return problemsOf(db, evaluationId).map((p) => ({
    attr: p.attr,
    path: p.path,
    line: p.line,
    message: p.message,
    hint: p.hint,
  }));
}

/** GET /evaluations/:id's answer; the web page of an evaluation answers the same. */
export function evaluationDetail(db: Db, e: EvaluationRecord): EvaluationResponse {
  return {
    evaluation: {
      ...presentEvaluation(e),
      jobs: jobsOf(db, e.id),
      problems: presentProblems(db, e.id),
      comparison: compareWithPrevious(db, e),
    },
  };
}

function waitSeconds(raw: string | undefined): number {
  if (raw === undefined) return 0;
  const parsed = z.coerce.number().min(0).max(MAX_WAIT_SECONDS).safeParse(raw);
  if (!parsed.success) throw new InvalidInputError(`wait=${raw}: give seconds from 0 to ${MAX_WAIT_SECONDS}`);
  return parsed.data;
}

export function evaluationRoutes(ctx: AppContext, evaluator?: Evaluator): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get("/evaluations/:id", optionalToken(ctx), (c) => {
      const id = param(c, "id", Id);
      const token = tokenOrNull(c);
      const e = findEvaluation(ctx.db, id);
      if (!e || !mayRead(ctx.db, token, getOrg(ctx.db, e.org)))
        throw unreadable(token, () => noSuchEvaluation(id));
      return c.json(evaluationDetail(ctx.db, e));
    })
    .get("/internal/pushes/:id/evaluation", requireHookSecret(ctx), async (c) => {
      const pushId = param(c, "id", Id);
      const wait = waitSeconds(c.req.query("wait"));
      const before = evaluationOfPush(ctx.db, pushId);
      if (before && evaluator && wait > 0) await evaluator.waitFinished(before.id, wait * 1000);
      const e = before ? evaluationOfPush(ctx.db, pushId) : undefined;
      return c.json({
        evaluation: e ? presentEvaluation(e) : null,
        problems: e ? presentProblems(ctx.db, e.id) : [],
      } satisfies PushEvaluationResponse);
    })
    .get("/internal/evaluations/:id/progress", requireHookSecret(ctx), async (c) => {
      // `git push -o wait`: answered as soon as the state differs from `since` (a `version` the hook saw), when
      // the push named by `receive` lost its client, or after `wait` seconds.
      const id = param(c, "id", Id);
      const wait = waitSeconds(c.req.query("wait"));
      const since = c.req.query("since");
      const receive = c.req.query("receive");
      getEvaluation(ctx.db, id);
      const connected = () => receive === undefined || ctx.receives?.get(receive)?.open === true;
      const until = Date.now() + wait * 1000;
      const signal = c.req.raw.signal;
      let p = progressOf(ctx.db, id);
      while (p.version === since && connected() && Date.now() < until && !signal.aborted) {
        await sleep(Math.min(PROGRESS_POLL_MS, Math.max(0, until - Date.now())));
        if (signal.aborted) break;
        p = progressOf(ctx.db, id);
      }
      const e = p.evaluation ?? getEvaluation(ctx.db, id);
      return c.json({
        evaluation: presentEvaluation(e),
        problems: finishedStates.includes(e.state) ? presentProblems(ctx.db, id) : [],
        jobs: p.jobs,
        version: p.version,
        connected: connected(),
      } satisfies EvaluationProgressResponse);
    });
}
