// The Storehouse as an API answer: where it is, its key, and its figures; shared by GET /api/v1/storehouse and the
// /-/storehouse page.
import type { StorehouseSummary } from "../../lib/api/storehouse.js";
import type { Db } from "../db/open.js";
import { readableOrgIds } from "../orgs/permissions.js";
import type { TokenRecord } from "../orgs/tokens.js";
import type { StorehouseRouteOptions } from "./cache-routes.js";
import { storehouseFigures } from "./figures.js";
import { presentUsage } from "./gc/present.js";

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

/** The summary with the collector's figures (when the server runs one); per-org lines only for orgs `token` reads. */
export async function storehouseSummaryWithGc(
  db: Db,
  opts: StorehouseRouteOptions,
  origin: string,
  token: TokenRecord,
): Promise<StorehouseSummary> {
  const summary = await storehouseSummary(db, opts, origin);
  if (!opts.gc) return summary;
  return {
    ...summary,
    gc: presentUsage(await opts.gc.cachedUsage(), opts.gc, await readableOrgIds(db, token)),
  };
}
