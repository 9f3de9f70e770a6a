// Builds and builders for people: list, show, log (followed live), cancel, restart, bump; the builders and
// what they run. A build is shared by every org whose evaluations want it: each sees only the jobs of orgs it
// reads, and a cancel withdraws only its own orgs' want (server/builds/wants.ts).

import { Hono } from "hono";
import { z } from "zod";
import type { BuildersResponse } from "../../lib/api/builders.js";
import { type BuildResponse, BuildState, type BuildsResponse, PriorityBody } from "../../lib/api/builds.js";
import { Name } from "../../lib/api/common.js";
import { buildersOf } from "../builders/present.js";
import { InvalidInputError } from "../errors.js";
import { optionalToken, requireToken, tokenOrNull } from "../http/auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { jsonBody, param } from "../http/validate.js";
import { getOrg } from "../orgs/orgs.js";
import { type BuildAccess, readableOrgIds, requireBuildRole, requireRole } from "../orgs/permissions.js";
import { buildLog } from "./build-log.js";
import { bumpBuild, getBuild, listBuilds, restartBuild, unfinishedStates } from "./builds.js";
import { logStream } from "./log-stream.js";
import { presentBuildDetail, presentBuilds } from "./present.js";
import { cancelWant } from "./wants.js";

const Id = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const ListQuery = z.object({
  state: BuildState.optional(),
  org: Name.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const LogQuery = z.object({
  offset: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  follow: z.enum(["0", "1", "true", "false"]).optional(),
});
/** How often a followed log looks for new bytes. */

function query<S extends z.ZodTypeAny>(raw: Record<string, string>, schema: S): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new InvalidInputError(`invalid query: ${msg}`);
  }
  return parsed.data;
}

export function buildRoutes(ctx: AppContext): Hono<AppEnv> {
  const { db } = ctx;
  const auth = requireToken(ctx);
  const maybe = optionalToken(ctx);
  const detail = async (id: number, access: BuildAccess) =>
    ({ build: await presentBuildDetail(db, await getBuild(db, id), access.visible) }) satisfies BuildResponse;
  return new Hono<AppEnv>()
    .get("/builds", auth, async (c) => {
      const q = query(c.req.query(), ListQuery);
      const token = c.get("token");
      let orgIds = await readableOrgIds(db, token);
      if (q.org) {
        const org = await getOrg(db, q.org);
        await requireRole(db, token, org, "reader");
        orgIds = [org.id];
      }
      const rows = await listBuilds(db, { state: q.state, orgIds, limit: q.limit });
      return c.json({
        builds: await presentBuilds(db, rows, await readableOrgIds(db, token)),
      } satisfies BuildsResponse);
    })
    .get("/builds/:id", maybe, async (c) => {
      const id = param(c, "id", Id);
      return c.json(await detail(id, await requireBuildRole(db, tokenOrNull(c), id, "reader")));
    })
    .get("/builds/:id/log", maybe, async (c) => {
      const id = param(c, "id", Id);
      await requireBuildRole(db, tokenOrNull(c), id, "reader");
      const q = query(c.req.query(), LogQuery);
      const log = buildLog(ctx, id);
      const follow = q.follow === "1" || q.follow === "true";
      c.header("content-type", "text/plain; charset=utf-8");
      c.header("cache-control", "no-store");
      c.header("x-content-type-options", "nosniff");
      const body = await logStream({
        log,
        offset: q.offset,
        signal: c.req.raw.signal,
        ...(follow
          ? {
              follow: {
                finished: async () => !unfinishedStates.includes((await getBuild(db, id)).state),
                signals: ctx.signals,
                buildId: id,
              },
            }
          : {}),
      });
      return c.body(body);
    })
    .post("/builds/:id/cancel", auth, async (c) => {
      const id = param(c, "id", Id);
      const access = await requireBuildRole(db, c.get("token"), id, "member");
      // Withdraws only the wants of the orgs this token steers; the build stops once nobody wants it.
      const { state, withdrawn } = await cancelWant(db, id, access.steering);
      ctx.signals.publish("build");
      ctx.logger.info({ build: id, withdrawn, state, by: c.get("token").id }, "build cancel requested");
      return c.json(await detail(id, access));
    })
    .post("/builds/:id/restart", auth, async (c) => {
      const id = param(c, "id", Id);
      const access = await requireBuildRole(db, c.get("token"), id, "member");
      const changed = await restartBuild(db, id, access.steering);
      ctx.signals.publish("build");
      ctx.signals.publish("queue");
      ctx.logger.info({ build: id, changed, by: c.get("token").id }, "build restarted");
      return c.json(await detail(id, access));
    })
    .post("/builds/:id/priority", auth, async (c) => {
      const id = param(c, "id", Id);
      const access = await requireBuildRole(db, c.get("token"), id, "member");
      const body = await jsonBody(c, PriorityBody);
      // Per build, not per want: the queue runs a build once for all who want it, so its place is one number.
      await bumpBuild(db, id, body.priority);
      return c.json(await detail(id, access));
    })
    .get("/builders", auth, async (c) =>
      c.json((await buildersOf(db, c.get("token"))) satisfies BuildersResponse),
    );
}
