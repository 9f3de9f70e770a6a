// `/internal/relay/*`: what the shared daemon's build hook (hooks/build-hook/) asks, with the hook secret: queue a
// build for the connection it serves, wait for its end, read its log. And the org's relay activity log.
import { Hono } from "hono";
import { z } from "zod";
import { Name } from "../../lib/api/common.js";
import {
  RelayBuildBody,
  type RelayBuildResponse,
  type RelayBuildStateResponse,
  type RelaySessionsResponse,
} from "../../lib/api/relay.js";
import { buildLog } from "../builds/build-log.js";
import { getBuild, leasesOfBuilds, resultsOfBuilds, unfinishedStates } from "../builds/builds.js";
import { InvalidInputError } from "../errors.js";
import { requireHookSecret, requireToken } from "../http/auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { jsonBody, param } from "../http/validate.js";
import { getOrg } from "../orgs/orgs.js";
import { requireRole } from "../orgs/permissions.js";
import type { Storehouse } from "../storehouse/store.js";
import type { DaemonRelay } from "./relay.js";
import { requestRelayBuild } from "./relay-builds.js";
import { listSessions } from "./sessions.js";

export interface RelayRouteOptions {
  relay: DaemonRelay;
  storehouse: Storehouse;
  storeRoot: string;
}

const Id = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const Wait = z.coerce.number().int().min(0).max(60).default(0);
const Offset = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0);
const Limit = z.coerce.number().int().min(1).max(500).default(50);

function queryValue<S extends z.ZodTypeAny>(raw: string | undefined, name: string, schema: S): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new InvalidInputError(`invalid ${name}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

export function relayRoutes(ctx: AppContext, opts: RelayRouteOptions): Hono<AppEnv> {
  const { db } = ctx;
  const hook = requireHookSecret(ctx);
  const stateOf = async (id: number): Promise<RelayBuildStateResponse> => {
    const build = await getBuild(db, id);
    const lease = (await leasesOfBuilds(db, [id])).get(id);
    const result = (await resultsOfBuilds(db, [id])).get(id);
    return {
      state: build.state,
      builder: lease?.builder ?? result?.builder ?? null,
      message: result?.message ?? null,
    };
  };
  return new Hono<AppEnv>()
    .post("/internal/relay/builds", hook, async (c) => {
      const body = await jsonBody(c, RelayBuildBody);
      const sessionId = await opts.relay.sessionOfDaemonPid(body.daemonPid);
      const build = await requestRelayBuild(
        {
          db,
          storehouse: opts.storehouse,
          storeRoot: opts.storeRoot,
          signal: ctx.signal,
          signals: ctx.signals,
        },
        body.drvPath,
        sessionId,
      );
      ctx.logger.info(
        { build: build.id, drv: body.drvPath, relaySession: sessionId },
        "relayed build requested",
      );
      return c.json({
        build: { id: build.id, state: (await getBuild(db, build.id)).state },
        outputs: build.outputs,
      } satisfies RelayBuildResponse);
    })
    .get("/internal/relay/builds/:id", hook, async (c) => {
      const id = param(c, "id", Id);
      const wait = queryValue(c.req.query("wait"), "wait", Wait);
      const until = Date.now() + wait * 1000;
      let answer = await stateOf(id);
      while (unfinishedStates.includes(answer.state) && Date.now() < until && !ctx.signal?.aborted) {
        await new Promise((r) => setTimeout(r, 250));
        answer = await stateOf(id);
      }
      return c.json(answer satisfies RelayBuildStateResponse);
    })
    .get("/internal/relay/builds/:id/log", hook, async (c) => {
      const id = param(c, "id", Id);
      await getBuild(db, id);
      const offset = queryValue(c.req.query("offset"), "offset", Offset);
      const chunk = await buildLog(ctx, id).readFrom(offset);
      return c.body(new Uint8Array(chunk), 200, { "content-type": "application/octet-stream" });
    })
    .get("/orgs/:org/relay-sessions", requireToken(ctx), async (c) => {
      const org = await getOrg(db, param(c, "org", Name));
      await requireRole(db, c.get("token"), org, "member", "read the relay activity of");
      const limit = queryValue(c.req.query("limit"), "limit", Limit);
      return c.json({ sessions: await listSessions(db, org.id, limit) } satisfies RelaySessionsResponse);
    });
}
