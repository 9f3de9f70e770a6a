// /tokens: admins manage every token; org owners manage their org's `org` and `machine` tokens.
import { Hono } from "hono";
import { z } from "zod";
import { CreateTokenBody, type CreateTokenResponse, type TokensResponse } from "../../lib/api/tokens.js";
import { ForbiddenError, NotFoundError } from "../errors.js";
import { requireToken } from "../http/auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { jsonBody, param } from "../http/validate.js";
import { getOrg } from "./orgs.js";
import { ownedOrgIds, requireRole } from "./permissions.js";
import { presentToken } from "./present.js";
import { createToken, findTokenById, listTokens, revokeToken, type TokenSpec } from "./tokens.js";
import { getUser } from "./users.js";

const TokenId = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, "a token id is a positive whole number (see `flox token list`)")
  .transform(Number);

export function tokenRoutes(ctx: AppContext): Hono<AppEnv> {
  const auth = requireToken(ctx);
  return new Hono<AppEnv>()
    .post("/tokens", auth, async (c) => {
      const caller = c.get("token");
      // Who may create no token at all is refused before the body is read.
      const owned = await ownedOrgIds(ctx.db, caller);
      if (owned !== undefined && owned.length === 0) {
        throw new ForbiddenError("only admins and org owners may create tokens; this token owns no org");
      }
      const body = await jsonBody(c, CreateTokenBody);
      if (caller.scope !== "admin" && body.scope !== "org" && body.scope !== "machine") {
        throw new ForbiddenError(
          `only an admin token may create "${body.scope}" tokens; org owners may create "org" and "machine" tokens for their org`,
        );
      }
      const spec: TokenSpec = { scope: body.scope, name: body.name, role: body.role };
      if (body.org !== undefined) {
        const org = await getOrg(ctx.db, body.org);
        await requireRole(ctx.db, caller, org, "owner", "create tokens for");
        spec.orgId = org.id;
      }
      if (body.user !== undefined) spec.userId = (await getUser(ctx.db, body.user)).id;
      const { token, secret } = await createToken(ctx.db, spec);
      ctx.logger.info({ id: token.id, scope: token.scope, org: token.org, by: caller.id }, "token created");
      return c.json({ token: presentToken(token), secret } satisfies CreateTokenResponse, 201);
    })
    .get("/tokens", auth, async (c) => {
      const owned = await ownedOrgIds(ctx.db, c.get("token"));
      if (owned !== undefined && owned.length === 0) {
        throw new ForbiddenError("only admins and org owners may list tokens; this token owns no org");
      }
      return c.json({ tokens: (await listTokens(ctx.db, owned)).map(presentToken) } satisfies TokensResponse);
    })
    .delete("/tokens/:id", auth, async (c) => {
      const caller = c.get("token");
      const id = param(c, "id", TokenId);
      const target = await findTokenById(ctx.db, id);
      if (!target) throw new NotFoundError(`there is no token with id ${id}; \`flox token list\` shows them`);
      if (caller.scope !== "admin") {
        if (target.org === null) {
          throw new ForbiddenError(`only an admin token may revoke "${target.scope}" tokens`);
        }
        await requireRole(ctx.db, caller, await getOrg(ctx.db, target.org), "owner", "revoke tokens of");
      }
      await revokeToken(ctx.db, id);
      ctx.logger.info({ id, by: caller.id }, "token revoked");
      return c.body(null, 204);
    });
}
