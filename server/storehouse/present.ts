// The Storehouse as an API answer: where it is, its key, and its figures; shared by GET /api/v1/storehouse and the
// /-/storehouse page.
import type { StorehouseSummary } from "../../lib/api/storehouse.js";
import type { Db } from "../db/open.js";
import type { StorehouseRouteOptions } from "./cache-routes.js";
import { storehouseFigures } from "./figures.js";

/** `origin` is how the client reached us, so the cache URL works from where it stands. */
export async function storehouseSummary(
  db: Db,
  opts: StorehouseRouteOptions,
  origin: string,
): Promise<StorehouseSummary> {
  return {
    url: `${origin}/cache`,
    publicKey: opts.storehouse.publicKey,
    private: opts.privateCache,
    ...(await storehouseFigures(db)),
  };
}
