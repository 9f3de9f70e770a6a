// /orgs/:org/members: who has which role in an org.
import { Hono } from "hono";
import { Name } from "../../lib/api/common.js";
import { type MemberResponse, type MembersResponse, PutMemberBody } from "../../lib/api/orgs.js";
import { requireToken } from "../http/auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { jsonBody, param } from "../http/validate.js";
import { listMembers, removeMembership, setMembership } from "./memberships.js";
import { getOrg } from "./orgs.js";
import { requireRole } from "./permissions.js";
import { presentMember } from "./present.js";
import { getUser } from "./users.js";

export function memberRoutes(ctx: AppContext): Hono<AppEnv> {
  const auth = requireToken(ctx);
  return new Hono<AppEnv>()
    .get("/orgs/:org/members", auth, async (c) => {
      const org = await getOrg(ctx.db, param(c, "org", Name));
      await requireRole(ctx.db, c.get("token"), org, "reader");
      return c.json({
        members: (await listMembers(ctx.db, org)).map(presentMember),
      } satisfies MembersResponse);
    })
    .put("/orgs/:org/members/:user", auth, async (c) => {
      const org = await getOrg(ctx.db, param(c, "org", Name));
      await requireRole(ctx.db, c.get("token"), org, "owner", "manage the members of");
      const user = await getUser(ctx.db, param(c, "user", Name));
      const { role } = await jsonBody(c, PutMemberBody);
      const member = await setMembership(ctx.db, org, user, role);
      ctx.logger.info(member, "membership set");
      return c.json({ member: presentMember(member) } satisfies MemberResponse);
    })
    .delete("/orgs/:org/members/:user", auth, async (c) => {
      const org = await getOrg(ctx.db, param(c, "org", Name));
      await requireRole(ctx.db, c.get("token"), org, "owner", "manage the members of");
      const user = await getUser(ctx.db, param(c, "user", Name));
      await removeMembership(ctx.db, org, user);
      ctx.logger.info({ org: org.name, user: user.name }, "membership removed");
      return c.body(null, 204);
    });
}
