// GET /storehouse: the binary cache in figures, for any token (aggregates only; path names stay private).
// POST /storehouse/sweep and /storehouse/verify: admins run the background upkeep at once.
import { Hono } from "hono";
import type {
  StorehouseResponse,
  StorehouseSweepResponse,
  StorehouseVerifyResponse,
} from "../../lib/api/storehouse.js";
import { NotFoundError } from "../errors.js";
import { requireToken } from "../http/auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { requireAdmin } from "../orgs/permissions.js";
import type { StorehouseRouteOptions } from "./cache-routes.js";
import type { StorehouseMaintenance } from "./maintenance.js";
import { storehouseSummaryWithGc } from "./present.js";

export function storehouseApiRoutes(
  ctx: AppContext,
  opts: StorehouseRouteOptions,
  maintenance?: StorehouseMaintenance,
): Hono<AppEnv> {
  const auth = requireToken(ctx);
  const upkeep = (what: string) => {
    if (!maintenance) throw new NotFoundError(`this server runs no Storehouse upkeep to ${what}`);
    return maintenance;
  };
  return new Hono<AppEnv>()
    .get("/storehouse", auth, async (c) =>
      c.json({
        storehouse: await storehouseSummaryWithGc(ctx.db, opts, new URL(c.req.url).origin, c.get("token")),
      } satisfies StorehouseResponse),
    )
    .post("/storehouse/sweep", auth, async (c) => {
      requireAdmin(c.get("token"), "sweep the Storehouse");
      const removed = await upkeep("sweep").sweep();
      return c.json({ removed } satisfies StorehouseSweepResponse);
    })
    .post("/storehouse/verify", auth, async (c) => {
      requireAdmin(c.get("token"), "check the Storehouse's NAR files");
      const r = await upkeep("verify").verify();
      return c.json(r satisfies StorehouseVerifyResponse);
    });
}
