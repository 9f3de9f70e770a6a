// The builders list as an API answer for one token; shared by GET /api/v1/builders and the /-/builders page.
import type { BuildersResponse } from "../../lib/api/builders.js";
import type { Db } from "../db/open.js";
import { buildRole, orgsWithRole } from "../orgs/permissions.js";
import type { TokenRecord } from "../orgs/tokens.js";
import { listBuilders, queueFigures } from "./builders.js";

/** The builders and the queue, showing only the running builds this token may read. */
export async function buildersOf(db: Db, token: TokenRecord): Promise<BuildersResponse> {
  const visible = async (id: number) =>
    token.scope === "admin" || orgsWithRole(await buildRole(db, token, id), "reader").length > 0;
  return { builders: await listBuilders(db, visible), queue: await queueFigures(db) };
}
