// The web pages (hono/jsx, server-rendered): mounted last at "/" by server/app.ts, so /api/v1, /cache and
// /channels keep their own routes, and git URLs (/ORG/nixexprs.git/…) never get here (serve.ts sends them to git).
// docs/WEB.md says how to add a page.
import { Hono } from "hono";
import type { AppContext } from "../http/context.js";
import { assetRoutes } from "./assets.js";
import { webErrorHandler } from "./errors.js";
import { type FleetOptions, fleetRoutes } from "./fleet-routes.js";
import { loginRoutes } from "./login.js";
import { buildPageRoutes } from "./pages/build.js";
import { evaluationPageRoutes } from "./pages/evaluation.js";
import { homeRoutes } from "./pages/home.js";
import { jobsetPageRoutes } from "./pages/jobset.js";
import { orgRoutes } from "./pages/org.js";
import type { WebEnv } from "./viewer.js";

export function webRoutes(ctx: AppContext, fleet: FleetOptions = {}): Hono<WebEnv> {
  const web = new Hono<WebEnv>();
  web.onError(webErrorHandler(ctx.logger, ctx.paths.dataDir));
  web.route("/", assetRoutes() as unknown as Hono<WebEnv>);
  web.route("/", loginRoutes(ctx));
  web.route("/", homeRoutes(ctx));
  // Pages under /:org/… come before /:org itself only by specificity; hono matches whole patterns, so order is free.
  web.route("/", orgRoutes(ctx));
  web.route("/", jobsetPageRoutes(ctx));
  // Live streams (evaluation, build log) end when the server shuts down: its signal is aborted first thing then
  // (and the MachineHub, which API-only tests shut without a signal, closes).
  const closing = () => ctx.signal?.aborted === true || fleet.machines?.closed === true;
  web.route("/", evaluationPageRoutes(ctx, { closing }));
  web.route("/", buildPageRoutes(ctx, { closing }));
  // Channels, profiles, machines, /-/storehouse, /-/builders (server/web/fleet-routes.ts).
  web.route("/", fleetRoutes(ctx, fleet));
  return web;
}
