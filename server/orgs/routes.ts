// /orgs: create (admin), list (what the token may read, and the public ones), show (reader+ or public), make
// public or private (owner).
import { Hono } from "hono";
import { Name } from "../../lib/api/common.js";
import { CreateOrgBody, type OrgResponse, type OrgsResponse, UpdateOrgBody } from "../../lib/api/orgs.js";
import { optionalToken, requireToken, tokenOrNull } from "../http/auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { jsonBody, param } from "../http/validate.js";
import { createOrg, getOrg, listOrgs, setMachineBuilds, setOrgVisibility } from "./orgs.js";
import { getReadableOrg, readableOrgIds, requireAdmin, requireRole } from "./permissions.js";
import { presentOrg } from "./present.js";

const origin = (url: string) => new URL(url).origin;

export function orgRoutes(ctx: AppContext): Hono<AppEnv> {
  const auth = requireToken(ctx);
  const maybe = optionalToken(ctx);
  return new Hono<AppEnv>()
    .post("/orgs", auth, async (c) => {
      requireAdmin(c.get("token"), "create orgs");
      const body = await jsonBody(c, CreateOrgBody);
      const org = await createOrg(ctx, body);
      ctx.logger.info({ org: org.name, public: org.public }, "org created");
      return c.json({ org: presentOrg(org, origin(c.req.url)) } satisfies OrgResponse, 201);
    })
    .get("/orgs", auth, async (c) => {
      const all = await listOrgs(ctx.db, await readableOrgIds(ctx.db, c.get("token")));
      const seen = new Set(all.map((o) => o.id));
      const orgs = [...all, ...(await listOrgs(ctx.db)).filter((o) => o.public && !seen.has(o.id))].sort(
        (a, b) => a.name.localeCompare(b.name),
      );
      return c.json({ orgs: orgs.map((o) => presentOrg(o, origin(c.req.url))) } satisfies OrgsResponse);
    })
    .get("/orgs/:org", maybe, async (c) => {
      const org = await getReadableOrg(ctx.db, tokenOrNull(c), param(c, "org", Name));
      return c.json({ org: presentOrg(org, origin(c.req.url)) } satisfies OrgResponse);
    })
    .patch("/orgs/:org", auth, async (c) => {
      const token = c.get("token");
      const org = await getOrg(ctx.db, param(c, "org", Name));
      await requireRole(ctx.db, token, org, "owner", "change the settings of");
      const body = await jsonBody(c, UpdateOrgBody);
      let updated = body.public === undefined ? org : await setOrgVisibility(ctx.db, org, body.public);
      if (updated.public !== org.public) {
        ctx.logger.info({ org: org.name, public: updated.public, by: token.id }, "org visibility changed");
      }
      if (body.machineBuilds !== undefined && body.machineBuilds !== org.machineBuilds) {
        updated = await setMachineBuilds(ctx.db, updated, body.machineBuilds);
        ctx.logger.info(
          { org: org.name, machineBuilds: body.machineBuilds, by: token.id },
          "org machine builds changed",
        );
      }
      return c.json({ org: presentOrg(updated, origin(c.req.url)) } satisfies OrgResponse);
    });
}
