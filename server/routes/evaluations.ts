// Evaluations: read by the org's readers (/evaluations/:id), awaited by the post-receive hook (/internal/...).
import { asc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import type {
  EvalJob,
  EvalProblem,
  EvaluationResponse,
  PushEvaluationResponse,
} from "../../lib/api-schemas.js";
import type { Db } from "../db/open.js";
import { builds, evalJobs } from "../db/schema.js";
import { getOrg } from "../domain/orgs.js";
import { requireRole } from "../domain/permissions.js";
import { InvalidInputError } from "../errors.js";
import { compareWithPrevious } from "../evaluations/compare.js";
import type { Evaluator } from "../evaluations/evaluator.js";
import { evaluationOfPush, getEvaluation, presentEvaluation, problemsOf } from "../evaluations/records.js";
import { requireHookSecret, requireToken } from "./auth.js";
import type { AppContext, AppEnv } from "./env.js";
import { param } from "./validate.js";

const Id = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/** The hook asks for 30 s at a time; more would only hold a connection that a proxy may cut. */
const MAX_WAIT_SECONDS = 60;

function jobsOf(db: Db, evaluationId: number): EvalJob[] {
  return db
    .select({ job: evalJobs, state: builds.state })
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

function presentProblems(db: Db, evaluationId: number): EvalProblem[] {
  return problemsOf(db, evaluationId).map((p) => ({
    attr: p.attr,
    path: p.path,
    line: p.line,
    message: p.message,
    hint: p.hint,
  }));
}

function waitSeconds(raw: string | undefined): number {
  if (raw === undefined) return 0;
  const parsed = z.coerce.number().min(0).max(MAX_WAIT_SECONDS).safeParse(raw);
  if (!parsed.success) throw new InvalidInputError(`wait=${raw}: give seconds from 0 to ${MAX_WAIT_SECONDS}`);
  return parsed.data;
}

export function evaluationRoutes(ctx: AppContext, evaluator?: Evaluator): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get("/evaluations/:id", requireToken(ctx), (c) => {
      const e = getEvaluation(ctx.db, param(c, "id", Id));
      requireRole(ctx.db, c.get("token"), getOrg(ctx.db, e.org), "reader");
      return c.json({
        evaluation: {
          ...presentEvaluation(e),
          jobs: jobsOf(ctx.db, e.id),
          problems: presentProblems(ctx.db, e.id),
          comparison: compareWithPrevious(ctx.db, e),
        },
      } satisfies EvaluationResponse);
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
    });
}
