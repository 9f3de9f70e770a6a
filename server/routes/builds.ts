// Builds and builders for people: list, show, log (followed live), cancel, restart, bump; the builders and
// what they run. A build is shared by every org whose evaluations want it: each sees only the jobs of orgs it
// reads, and a cancel withdraws only its own orgs' want (server/builds/wants.ts).
import { Hono } from "hono";
import { stream } from "hono/streaming";
import { z } from "zod";
import type { BuildersResponse } from "../../lib/api/builders.js";
import {
  type BuildResponse,
  BuildState,
  type BuildsChangedResponse,
  type BuildsResponse,
  PriorityBody,
} from "../../lib/api/builds.js";
import { Name } from "../../lib/api/common.js";
import type { Role } from "../../lib/api/orgs.js";
import { buildLogPath, readLogFrom } from "../builds/build-log.js";
import {
  bumpBuild,
  cancelEvaluationBuilds,
  getBuild,
  listBuilders,
  listBuilds,
  noSuchBuild,
  orgIdsOfBuild,
  presentBuildDetail,
  presentBuilds,
  queueFigures,
  restartBuild,
  restartEvaluationBuilds,
  unfinishedStates,
} from "../builds/records.js";
import { cancelWant } from "../builds/wants.js";
import type { Db } from "../db/open.js";
import { getOrg } from "../domain/orgs.js";
import { readableAmong, readableOrgIds, requireRole, roleAtLeast, roleIn } from "../domain/permissions.js";
import type { TokenRecord } from "../domain/tokens.js";
import { ForbiddenError, InvalidInputError, NotFoundError, UnauthenticatedError } from "../errors.js";
import { getEvaluation } from "../evaluations/records.js";
import { optionalToken, requireToken, tokenOrNull } from "./auth.js";
import type { AppContext, AppEnv } from "./env.js";
import { jsonBody, param } from "./validate.js";

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
const FOLLOW_POLL_MS = 300;

/** What a token may do with a build: the orgs it reads and steers among those whose jobs want the build. */
interface BuildAccess {
  /** Orgs whose jobs the answer may name (undefined: all, an admin). */
  visible: number[] | undefined;
  /** Orgs whose want a cancel withdraws and a restart reinstates (undefined: all, an admin). */
  steering: number[] | undefined;
}

/**
 * The build, if this token has at least `needed` in one of the orgs whose jobs want it; to read, a public org that
 * wants it is enough (and no token is needed then). A token that may read none of them gets the very answer a
 * nonexistent build gets: a shared build must not tell a stranger it exists.
 */
function requireBuildRole(db: Db, token: TokenRecord | null, buildId: number, needed: Role): BuildAccess {
  getBuild(db, buildId);
  const orgIds = orgIdsOfBuild(db, buildId);
  const visible = readableAmong(db, token, orgIds);
  if (visible === undefined) return { visible: undefined, steering: undefined };
  if (visible.length === 0 && token == null) {
    throw new UnauthenticatedError(
      `build ${buildId} is not public; send \`Authorization: Bearer <token>\` with a token that may read one of its orgs`,
    );
  }
  if (visible.length === 0) throw new NotFoundError(noSuchBuild(buildId));
  const steering = token == null ? [] : orgIds.filter((id) => roleAtLeast(roleIn(db, token, { id }), needed));
  if (steering.length === 0 && needed !== "reader") {
    throw new ForbiddenError(
      `this token may not steer build ${buildId}: it needs the ${needed} role in an org whose evaluations want it`,
    );
  }
  return { visible, steering };
}

/** The builders and the queue, showing only the running builds this token may read. */
export function buildersOf(db: Db, token: TokenRecord): BuildersResponse {
  const visible = (id: number) =>
    token.scope === "admin" ||
    orgIdsOfBuild(db, id).some((org) => roleAtLeast(roleIn(db, token, { id: org }), "reader"));
  return { builders: listBuilders(db, visible), queue: queueFigures(db) };
}

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
  const detail = (id: number, access: BuildAccess) =>
    ({ build: presentBuildDetail(db, getBuild(db, id), access.visible) }) satisfies BuildResponse;
  return new Hono<AppEnv>()
    .get("/builds", auth, (c) => {
      const q = query(c.req.query(), ListQuery);
      const token = c.get("token");
      let orgIds = readableOrgIds(db, token);
      if (q.org) {
        const org = getOrg(db, q.org);
        requireRole(db, token, org, "reader");
        orgIds = [org.id];
      }
      const rows = listBuilds(db, { state: q.state, orgIds, limit: q.limit });
      return c.json({ builds: presentBuilds(db, rows, readableOrgIds(db, token)) } satisfies BuildsResponse);
    })
    .get("/builds/:id", maybe, (c) => {
      const id = param(c, "id", Id);
      return c.json(detail(id, requireBuildRole(db, tokenOrNull(c), id, "reader")));
    })
    .get("/builds/:id/log", maybe, async (c) => {
      const id = param(c, "id", Id);
      requireBuildRole(db, tokenOrNull(c), id, "reader");
      const q = query(c.req.query(), LogQuery);
      const path = buildLogPath(ctx.paths.logs, id);
      const follow = q.follow === "1" || q.follow === "true";
      c.header("content-type", "text/plain; charset=utf-8");
      c.header("cache-control", "no-store");
      c.header("x-content-type-options", "nosniff");
      if (!follow) {
        // Whole log from the offset, in pieces: a log is as long as the build made it.
        return stream(c, async (s) => {
          let offset = q.offset;
          for (;;) {
            const chunk = await readLogFrom(path, offset);
            if (chunk.length === 0) return;
            await s.write(chunk);
            offset += chunk.length;
          }
        });
      }
      // Followed: new bytes as they arrive, until the build finished and every byte was sent.
      return stream(c, async (s) => {
        let offset = q.offset;
        let aborted = false;
        s.onAbort(() => {
          aborted = true;
        });
        while (!aborted) {
          const done = !unfinishedStates.includes(getBuild(db, id).state);
          const chunk = await readLogFrom(path, offset);
          if (chunk.length > 0) {
            await s.write(chunk);
            offset += chunk.length;
            continue;
          }
          if (done) return;
          await s.sleep(FOLLOW_POLL_MS);
        }
      });
    })
    .post("/builds/:id/cancel", auth, (c) => {
      const id = param(c, "id", Id);
      const access = requireBuildRole(db, c.get("token"), id, "member");
      // Withdraws only the wants of the orgs this token steers; the build stops once nobody wants it.
      const { state, withdrawn } = cancelWant(db, id, access.steering);
      ctx.logger.info({ build: id, withdrawn, state, by: c.get("token").id }, "build cancel requested");
      return c.json(detail(id, access));
    })
    .post("/builds/:id/restart", auth, (c) => {
      const id = param(c, "id", Id);
      const access = requireBuildRole(db, c.get("token"), id, "member");
      const changed = restartBuild(db, id, access.steering);
      ctx.logger.info({ build: id, changed, by: c.get("token").id }, "build restarted");
      return c.json(detail(id, access));
    })
    .post("/builds/:id/priority", auth, async (c) => {
      const id = param(c, "id", Id);
      const access = requireBuildRole(db, c.get("token"), id, "member");
      const body = await jsonBody(c, PriorityBody);
      // Per build, not per want: the queue runs a build once for all who want it, so its place is one number.
      bumpBuild(db, id, body.priority);
      return c.json(detail(id, access));
    })
    .post("/evaluations/:id/cancel", auth, (c) => {
      const e = getEvaluation(db, param(c, "id", Id));
      const org = getOrg(db, e.org);
      requireRole(db, c.get("token"), org, "member");
      const changed = cancelEvaluationBuilds(db, e.id, org.id);
      ctx.logger.info({ evaluation: e.id, changed, by: c.get("token").id }, "evaluation cancelled");
      return c.json({ changed } satisfies BuildsChangedResponse);
    })
    .post("/evaluations/:id/restart", auth, (c) => {
      const e = getEvaluation(db, param(c, "id", Id));
      const org = getOrg(db, e.org);
      requireRole(db, c.get("token"), org, "member");
      const changed = restartEvaluationBuilds(db, e.id, org.id);
      ctx.logger.info({ evaluation: e.id, changed, by: c.get("token").id }, "evaluation restarted");
      return c.json({ changed } satisfies BuildsChangedResponse);
    })
    .get("/builders", auth, (c) => c.json(buildersOf(db, c.get("token")) satisfies BuildersResponse));
}
