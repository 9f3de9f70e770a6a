// GET /health and GET /whoami: is the server up, and who am I to it.
import { Hono } from "hono";
import type { HealthResponse } from "../../lib/api/server.js";
import type { WhoamiResponse } from "../../lib/api/tokens.js";
import { requireToken } from "../http/auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { presentToken } from "../orgs/present.js";
import { serverVersion } from "../version.js";

export function healthRoutes(ctx: AppContext): Hono<AppEnv> {
  return new Hono<AppEnv>()
    .get("/health", (c) => c.json({ ok: true, version: serverVersion } satisfies HealthResponse))
    .get("/whoami", requireToken(ctx), (c) =>
      c.json({ token: presentToken(c.get("token")) } satisfies WhoamiResponse),
    );
}
