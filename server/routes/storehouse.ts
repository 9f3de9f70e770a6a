// GET /storehouse: the binary cache in figures, for any token (aggregates only; path names stay private).
import { Hono } from "hono";
import type { StorehouseResponse, StorehouseSummary } from "../../lib/api-schemas.js";
import type { Db } from "../db/open.js";
import { storehouseFigures } from "../storehouse/figures.js";
import type { StorehouseRouteOptions } from "../storehouse/routes.js";
import { requireToken } from "./auth.js";
import type { AppContext, AppEnv } from "./env.js";

/** `origin` is how the client reached us, so the cache URL works from where it stands. */
export function storehouseSummary(db: Db, opts: StorehouseRouteOptions, origin: string): StorehouseSummary {
  return {
    url: `${origin}/cache`,
    publicKey: opts.storehouse.publicKey,
    private: opts.privateCache,
    ...storehouseFigures(db),
  };
}

export function storehouseApiRoutes(ctx: AppContext, opts: StorehouseRouteOptions): Hono<AppEnv> {
  return new Hono<AppEnv>().get("/storehouse", requireToken(ctx), (c) =>
    c.json({
      storehouse: storehouseSummary(ctx.db, opts, new URL(c.req.url).origin),
    } satisfies StorehouseResponse),
  );
}
