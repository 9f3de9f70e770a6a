// /builder: what `flox builder` calls (builder tokens only): claim work under a lease, heartbeat, stream the
// log, report the result. See server/builds/queue.ts for the rules and docs/API.md, "Builders".
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Hono, type MiddlewareHandler } from "hono";
import { z } from "zod";
import {
  BuildResultBody,
  type BuildResultResponse,
  ClaimBody,
  type ClaimResponse,
  HeartbeatBody,
  type HeartbeatResponse,
} from "../../lib/api/builders.js";
import { parseStorePath } from "../../lib/store-path.js";
import { buildLog } from "../builds/build-log.js";
import { publishDrvClosure } from "../builds/publish-drvs.js";
import {
  claimBuild,
  DEFAULT_LEASE_SECONDS,
  finishBuild,
  giveBackClaim,
  heartbeat,
  requireLease,
} from "../builds/queue.js";
import { ForbiddenError, InvalidInputError, StorageUnavailableError } from "../errors.js";
import { requireToken } from "../http/auth.js";
import { limitBody } from "../http/body-limit.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { jsonBody, param } from "../http/validate.js";
import type { Storehouse } from "../storehouse/store.js";

export interface BuilderRouteOptions {
  /** When given, a claimed build's .drv closure is put in the Storehouse before the builder hears of it. */
  storehouse?: Storehouse | undefined;
  leaseSeconds?: number | undefined;
  /** Called after a builder reported a result (channels may advance). */
  onBuildFinished?: (() => void) | undefined;
}

const BuildId = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, "a build id is a positive whole number")
  .transform(Number);

/** One log chunk; the builder sends them every half second or so. */
const MAX_LOG_CHUNK = 4 * 1024 * 1024;
/**
 * A waiting claim looks at the queue again at least this often, woken or not: a change that never signals (a
 * requeue by the sweeper, a signal lost while PostgreSQL restarted) costs a waiting builder this much, never a build.
 */
const RECHECK_MS = 500;
/** How long a claim waits for another server to publish a .drv closure this server does not have. */
const FOREIGN_DRV_WAIT_MS = 60_000;

function builderOnly(ctx: AppContext): MiddlewareHandler<AppEnv> {
  const auth = requireToken(ctx);
  return async (c, next) =>
    auth(c, async () => {
      const token = c.get("token");
      if (token.scope !== "builder") {
        throw new ForbiddenError(
          `the builder API needs a builder token; this is a "${token.scope}" token (an admin makes one with: flox token create --builder)`,
        );
      }
      await next();
    });
}

export function builderRoutes(ctx: AppContext, opts: BuilderRouteOptions = {}): Hono<AppEnv> {
  const leaseSeconds = opts.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  const auth = builderOnly(ctx);
  const published = new Set<string>();
  const { signals } = ctx;
  return new Hono<AppEnv>()
    .post("/builder/claim", auth, async (c) => {
      const body = { data: await jsonBody(c, ClaimBody) };
      // Long-poll: look again on every queue change (and every RECHECK_MS) until the wait is over or the builder
      // hung up, so an idle builder starts within milliseconds of a build being queued, without polling.
      const until = Date.now() + (body.data.waitMs ?? 0);
      // The builder hanging up (its own shutdown) or the server shutting down ends the wait without a claim.
      const gone = ctx.signal ? AbortSignal.any([c.req.raw.signal, ctx.signal]) : c.req.raw.signal;
      let claimed = await claimBuild(ctx.db, body.data, leaseSeconds);
      while (!claimed && !gone.aborted && Date.now() < until) {
        await signals.next("queue", Math.min(RECHECK_MS, until - Date.now()), gone);
        if (!gone.aborted) claimed = await claimBuild(ctx.db, body.data, leaseSeconds);
      }
      if (!claimed) return c.body(null, 204);
      const log = ctx.logger.child({
        build: claimed.id,
        builder: body.data.builderName,
        attempt: claimed.attempt,
      });
      // A .drv the Storehouse holds has its whole closure there (references are checked at upload): the shared
      // daemon's builds are published when its hook queues them, from its own store, not DATA_DIR/nix-root.
      const storehouse = opts.storehouse;
      const drvHash = parseStorePath(claimed.drvPath).hash;
      if (storehouse && !published.has(claimed.drvPath) && !(await storehouse.findPath(drvHash))) {
        // Evaluated by another server of the fleet: the .drv is in its nix-root, and it is publishing the closure.
        const until = Date.now() + FOREIGN_DRV_WAIT_MS;
        while (!existsSync(join(ctx.paths.nixRoot, claimed.drvPath)) && Date.now() < until) {
          if (await storehouse.findPath(drvHash)) break;
          await signals.next("build", 250, gone);
        }
      }
      try {
        if (storehouse && !published.has(claimed.drvPath) && !(await storehouse.findPath(drvHash))) {
          try {
            await publishDrvClosure({ storehouse, storeRoot: ctx.paths.nixRoot }, [claimed.drvPath]);
            published.add(claimed.drvPath);
          } catch (err) {
            if (err instanceof StorageUnavailableError) throw err;
            log.error({ err }, "could not put the build's .drv closure in the Storehouse");
            await finishBuild(ctx.db, claimed.id, claimed.leaseId, {
              status: "failed",
              infrastructureError: `the server could not publish the .drv closure: ${(err as Error).message}`,
            });
            return c.body(null, 204);
          }
        }
        await buildLog(ctx, claimed.id).append(
          `flox: attempt ${claimed.attempt} of build ${claimed.id} (${claimed.drvPath}) on builder ${body.data.builderName}\n`,
        );
      } catch (err) {
        // The object store is away: the build could not be built or its outputs stored now. Handing it out would
        // spend one of its attempts per claim; it waits in the queue instead, and the builder hears 503 and retries.
        if (!(err instanceof StorageUnavailableError)) throw err;
        await giveBackClaim(ctx.db, claimed.id, claimed.leaseId);
        log.warn({ err }, "build given back: the object store did not answer");
        throw err;
      }
      log.info("build claimed");
      signals.publish("build", claimed.id);
      const { leaseId, leaseExpiresAt, ...build } = claimed;
      return c.json({
        build,
        lease: { id: leaseId, expiresAt: leaseExpiresAt, seconds: leaseSeconds },
      } satisfies ClaimResponse);
    })
    .post("/builder/builds/:id/heartbeat", auth, async (c) => {
      const id = param(c, "id", BuildId);
      const body = await jsonBody(c, HeartbeatBody);
      return c.json((await heartbeat(ctx.db, id, body.lease, leaseSeconds)) satisfies HeartbeatResponse);
    })
    .post("/builder/builds/:id/log", auth, async (c) => {
      const id = param(c, "id", BuildId);
      const lease = c.req.query("lease");
      if (!lease)
        throw new InvalidInputError(
          "name the lease: POST …/log?lease=LEASE_ID with the log bytes as the body",
        );
      await requireLease(ctx.db, id, lease);
      await limitBody(c, MAX_LOG_CHUNK, "the log chunk", "send the log in smaller pieces");
      const bytes = Buffer.from(await c.req.arrayBuffer());
      if (bytes.length > 0) {
        await buildLog(ctx, id).append(bytes);
        signals.publish("log", id);
      }
      return c.body(null, 204);
    })
    .post("/builder/builds/:id/result", auth, async (c) => {
      const id = param(c, "id", BuildId);
      const body = await jsonBody(c, BuildResultBody);
      const state = await finishBuild(ctx.db, id, body.lease, body);
      signals.publish("queue"); // its dependents may be claimable now, or it was requeued
      signals.publish("build", id);
      opts.onBuildFinished?.();
      ctx.logger.info(
        { build: id, state, report: body.status, infra: body.infrastructureError },
        "build reported",
      );
      return c.json({ state } satisfies BuildResultResponse);
    });
}
