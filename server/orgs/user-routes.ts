// /users: admin-only user management.
import { Hono } from "hono";
import { CreateUserBody, type UserResponse, type UsersResponse } from "../../lib/api/orgs.js";
import { requireToken } from "../http/auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { jsonBody } from "../http/validate.js";
import { requireAdmin } from "./permissions.js";
import { presentUser } from "./present.js";
import { createUser, listUsers } from "./users.js";

export function userRoutes(ctx: AppContext): Hono<AppEnv> {
  const auth = requireToken(ctx);
  return new Hono<AppEnv>()
    .post("/users", auth, async (c) => {
      requireAdmin(c.get("token"), "create users");
      const body = await jsonBody(c, CreateUserBody);
      const user = await createUser(ctx.db, body.name);
      ctx.logger.info({ user: user.name }, "user created");
      return c.json({ user: presentUser(user) } satisfies UserResponse, 201);
    })
    .get("/users", auth, async (c) => {
      requireAdmin(c.get("token"), "list users");
      return c.json({ users: (await listUsers(ctx.db)).map(presentUser) } satisfies UsersResponse);
    });
}
