// Evaluations: read by the org's readers or anyone for a public org (/evaluations/:id), cancelled or restarted by
// its members, awaited by the post-receive hook (/internal/...).

import { Hono } from "hono";
import { z } from "zod";
import type { BuildsChangedResponse } from "../../lib/api/builds.js";
import type { EvaluationProgressResponse, PushEvaluationResponse } from "../../lib/api/internal.js";
import { cancelEvaluationBuilds, restartEvaluationBuilds } from "../builds/builds.js";
import { RECHECK_MS } from "../db/signals.js";
import { InvalidInputError } from "../errors.js";
import { optionalToken, requireHookSecret, requireToken, tokenOrNull } from "../http/auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { params } from "../http/validate.js";
import { getOrg } from "../orgs/orgs.js";
import { mayRead, requireRole, unreadable } from "../orgs/permissions.js";
import {
  evaluationOfPush,
  evaluationProgress,
  findEvaluation,
  finishedStates,
  getEvaluation,
  noSuchEvaluation,
} from "./data.js";
import type { Evaluator } from "./evaluator.js";
import { evaluationDetail, presentEvaluation, presentProblems } from "./present.js";

const Id = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);
/** The hook asks for 30 s at a time; more would only hold a connection that a proxy may cut. */
const MAX_WAIT_SECONDS = 60;

function waitSeconds(raw: string | undefined): number {
  if (raw === undefined) return 0;
  const parsed = z.coerce.number().min(0).max(MAX_WAIT_SECONDS).safeParse(raw);
  if (!parsed.success) throw new InvalidInputError(`wait=${raw}: give seconds from 0 to ${MAX_WAIT_SECONDS}`);
  return parsed.data;
}

export function evaluationRoutes(ctx: AppContext, evaluator?: Evaluator): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get("/evaluations/:id", optionalToken(ctx), params({ id: Id }), async (c) => {
      const { id } = c.req.valid("param");
      const token = tokenOrNull(c);
      const e = await findEvaluation(ctx.db, id);
      if (!e || !(await mayRead(ctx.db, token, await getOrg(ctx.db, e.org))))
        throw unreadable(token, () => noSuchEvaluation(id));
      return c.json(await evaluationDetail(ctx.db, e));
    })
    .get("/internal/pushes/:id/evaluation", requireHookSecret(ctx), params({ id: Id }), async (c) => {
      const pushId = c.req.valid("param").id;
      const wait = waitSeconds(c.req.query("wait"));
      const before = await evaluationOfPush(ctx.db, pushId);
      if (before && evaluator && wait > 0) await evaluator.waitFinished(before.id, wait * 1000);
      const e = before ? await evaluationOfPush(ctx.db, pushId) : undefined;
      return c.json({
        evaluation: e ? presentEvaluation(e) : null,
        problems: e ? await presentProblems(ctx.db, e.id) : [],
      } satisfies PushEvaluationResponse);
    })
    .get("/internal/evaluations/:id/progress", requireHookSecret(ctx), params({ id: Id }), async (c) => {
      // `git push -o wait`: answered as soon as the state differs from `since` (a `version` the hook saw), when
      // the push named by `receive` lost its client, or after `wait` seconds.
      const { id } = c.req.valid("param");
      const wait = waitSeconds(c.req.query("wait"));
      const since = c.req.query("since");
      const receive = c.req.query("receive");
      await getEvaluation(ctx.db, id);
      const connected = () => receive === undefined || ctx.receives?.get(receive)?.open === true;
      const until = Date.now() + wait * 1000;
      // The client leaving or the server shutting down ends the wait.
      const signal = ctx.signal ? AbortSignal.any([c.req.raw.signal, ctx.signal]) : c.req.raw.signal;
      let p = await evaluationProgress(ctx.db, id);
      while (p.version === since && connected() && Date.now() < until && !signal.aborted) {
        const left = Math.max(0, until - Date.now());
        await ctx.signals.next(["build", "evaluation"], Math.min(RECHECK_MS, left), signal);
        if (signal.aborted) break;
        p = await evaluationProgress(ctx.db, id);
      }
      const e = p.evaluation ?? (await getEvaluation(ctx.db, id));
      return c.json({
        evaluation: presentEvaluation(e),
        problems: finishedStates.includes(e.state) ? await presentProblems(ctx.db, id) : [],
        jobs: p.jobs,
        version: p.version,
        connected: connected(),
      } satisfies EvaluationProgressResponse);
    })
    .post("/evaluations/:id/cancel", requireToken(ctx), params({ id: Id }), async (c) => {
      const e = await getEvaluation(ctx.db, c.req.valid("param").id);
      const org = await getOrg(ctx.db, e.org);
      await requireRole(ctx.db, c.get("token"), org, "member");
      const changed = await cancelEvaluationBuilds(ctx.db, e.id, org.id);
      ctx.logger.info({ evaluation: e.id, changed, by: c.get("token").id }, "evaluation cancelled");
      return c.json({ changed } satisfies BuildsChangedResponse);
    })
    .post("/evaluations/:id/restart", requireToken(ctx), params({ id: Id }), async (c) => {
      const e = await getEvaluation(ctx.db, c.req.valid("param").id);
      const org = await getOrg(ctx.db, e.org);
      await requireRole(ctx.db, c.get("token"), org, "member");
      const changed = await restartEvaluationBuilds(ctx.db, e.id, org.id);
      ctx.logger.info({ evaluation: e.id, changed, by: c.get("token").id }, "evaluation restarted");
      return c.json({ changed } satisfies BuildsChangedResponse);
    });
}
