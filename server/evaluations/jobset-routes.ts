// Jobsets (one per pushed branch) and their evaluations, for the org's readers (anyone, for a public org).
import { Hono } from "hono";
import { Branch, Name } from "../../lib/api/common.js";
import type { EvaluationsResponse, JobsetsResponse } from "../../lib/api/evaluations.js";
import { optionalToken, tokenOrNull } from "../http/auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { param, params } from "../http/validate.js";
import { getReadableOrg } from "../orgs/permissions.js";
import { getJobset, listEvaluations } from "./data.js";
import { presentEvaluation, presentJobsets } from "./present.js";

export function jobsetRoutes(ctx: AppContext): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get("/orgs/:org/jobsets", optionalToken(ctx), params({ org: Name }), async (c) => {
      const org = await getReadableOrg(ctx.db, tokenOrNull(c), c.req.valid("param").org);
      const jobsets = await presentJobsets(ctx.db, org);
      return c.json({ jobsets } satisfies JobsetsResponse);
    })
    .get("/orgs/:org/jobsets/:branch/evaluations", optionalToken(ctx), async (c) => {
      const org = await getReadableOrg(ctx.db, tokenOrNull(c), param(c, "org", Name));
      const jobset = await getJobset(ctx.db, org, param(c, "branch", Branch));
      return c.json({
        evaluations: (await listEvaluations(ctx.db, [jobset.id])).map(presentEvaluation),
      } satisfies EvaluationsResponse);
    });
}
