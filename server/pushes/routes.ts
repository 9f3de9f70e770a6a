// Push records: the hooks write them (/internal/pushes), readers list them (/orgs/:org/pushes). A `-o wait` push
// gives its repo lock up and reports its verdict through /internal/receives.

import { Hono } from "hono";
import { Name } from "../../lib/api/common.js";
import {
  InternalPushBody,
  type InternalPushResponse,
  ReceiveVerdictBody,
  type ReceiveVerdictResponse,
  ReceiveWaitingBody,
  type ReceiveWaitingResponse,
} from "../../lib/api/internal.js";
import type { PushesResponse } from "../../lib/api/pushes.js";
import { NotFoundError } from "../errors.js";
import { evaluationOfPush } from "../evaluations/data.js";
import type { Evaluator } from "../evaluations/evaluator.js";
import { presentEvaluation } from "../evaluations/present.js";
import { requireHookSecret, requireToken } from "../http/auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { jsonBody, params } from "../http/validate.js";
import { getOrg } from "../orgs/orgs.js";
import { requireRole } from "../orgs/permissions.js";
import { listPushes, recordPush } from "./data.js";
import { presentPush } from "./present.js";

/** `evaluator` (absent in API-only tests) is told at once that a push queued an evaluation. */
export function pushRoutes(ctx: AppContext, evaluator?: Evaluator): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get("/orgs/:org/pushes", requireToken(ctx), params({ org: Name }), async (c) => {
      const org = await getOrg(ctx.db, c.req.valid("param").org);
      await requireRole(ctx.db, c.get("token"), org, "reader");
      return c.json({ pushes: (await listPushes(ctx.db, org)).map(presentPush) } satisfies PushesResponse);
    })
    .post("/internal/pushes", requireHookSecret(ctx), async (c) => {
      const body = await jsonBody(c, InternalPushBody);
      const org = await getOrg(ctx.db, body.org);
      const push = await recordPush(ctx.db, org, {
        ref: body.ref,
        oldSha: body.oldSha,
        newSha: body.newSha,
        pushOptions: body.pushOptions,
      });
      ctx.logger.info({ org: org.name, ref: push.ref, newSha: push.newSha, id: push.id }, "push recorded");
      const evaluation = await evaluationOfPush(ctx.db, push.id);
      if (evaluation?.state === "queued") {
        // Every server's evaluator hears of it (one of them claims it); this one looks at once.
        ctx.signals.publish("evaluation", evaluation.id);
        await evaluator?.kick();
      }
      return c.json(
        {
          push: presentPush(push),
          evaluation: evaluation ? presentEvaluation(evaluation) : null,
        } satisfies InternalPushResponse,
        201,
      );
    })
    .post("/internal/receives/waiting", requireHookSecret(ctx), async (c) => {
      // The hook's refs are in and recorded; it is about to wait for builds, which must not keep other pushes out.
      const body = await jsonBody(c, ReceiveWaitingBody);
      const receive = ctx.receives?.byProcess(body.org, body.pid);
      if (!receive?.open) {
        throw new NotFoundError(
          `no push to ${body.org} is served by git process ${body.pid} (its client may have gone); not waiting`,
        );
      }
      receive.releaseLock();
      ctx.logger.info(
        { org: receive.org, receive: receive.id },
        "push waits for its builds; repo lock released",
      );
      return c.json({ receive: receive.id } satisfies ReceiveWaitingResponse);
    })
    .post("/internal/receives/:id/verdict", requireHookSecret(ctx), async (c) => {
      const body = await jsonBody(c, ReceiveVerdictBody);
      const receive = ctx.receives?.get(c.req.param("id"));
      if (receive?.open) receive.failure = body.ok ? null : body.message;
      return c.json({ delivered: receive?.open === true } satisfies ReceiveVerdictResponse);
    });
}
