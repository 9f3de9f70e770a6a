// /orgs: create (admin), list (what the token may read), show (reader+).
import { Hono } from "hono";
import { CreateOrgBody, Name, type OrgResponse, type OrgsResponse } from "../../lib/api-schemas.js";
import { createOrg, getOrg, listOrgs } from "../domain/orgs.js";
import { readableOrgIds, requireAdmin, requireRole } from "../domain/permissions.js";
import { requireToken } from "./auth.js";
import type { AppContext, AppEnv } from "./env.js";
import { presentOrg } from "./present.js";
import { jsonBody, param } from "./validate.js";

const origin = (url: string) => new URL(url).origin;

export function orgRoutes(ctx: AppContext): Hono<AppEnv> {
  const auth = requireToken(ctx);
  return new Hono<AppEnv>()
    .post("/orgs", auth, async (c) => {
      requireAdmin(c.get("token"), "create orgs");
      const body = await jsonBody(c, CreateOrgBody);
      const org = await createOrg(ctx, body);
      ctx.logger.info({ org: org.name }, "org created");
      return c.json({ org: presentOrg(org, origin(c.req.url)) } satisfies OrgResponse, 201);
    })
    .get("/orgs", auth, (c) => {
      const orgs = listOrgs(ctx.db, readableOrgIds(ctx.db, c.get("token")));
      return c.json({ orgs: orgs.map((o) => presentOrg(o, origin(c.req.url))) } satisfies OrgsResponse);
    })
    .get("/orgs/:org", auth, (c) => {
      const org = getOrg(ctx.db, param(c, "org", Name));
      requireRole(ctx.db, c.get("token"), org, "reader");
      return c.json({ org: presentOrg(org, origin(c.req.url)) } satisfies OrgResponse);
    });
}
