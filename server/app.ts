// The hono app: every HTTP route except git's. Testable without a socket through `app.request()`.
import { Hono } from "hono";
import { type BuilderRouteOptions, builderRoutes } from "./builders/routes.js";
import { buildRoutes } from "./builds/routes.js";
import { channelApiRoutes } from "./channels/api-routes.js";
import type { ChannelPublisher } from "./channels/channels.js";
import { channelRoutes } from "./channels/tarball-routes.js";
import { reportDiskFull } from "./disk-full.js";
import type { Evaluator } from "./evaluations/evaluator.js";
import { jobsetRoutes } from "./evaluations/jobset-routes.js";
import { evaluationRoutes } from "./evaluations/routes.js";
import { type HookRouteOptions, hookRoutes } from "./git/hook-routes.js";
import type { AppContext, AppEnv } from "./http/context.js";
import { errorBody, internalError, toHttpError } from "./http/errors.js";
import type { MachineHub } from "./machines/hub.js";
import { machineRoutes } from "./machines/routes.js";
import { type RelayRouteOptions, relayRoutes } from "./nix-daemon/hook-routes.js";
import { memberRoutes } from "./orgs/member-routes.js";
import { orgRoutes } from "./orgs/routes.js";
import { tokenRoutes } from "./orgs/token-routes.js";
import { userRoutes } from "./orgs/user-routes.js";
import type { ProfileEditor } from "./profiles/editor.js";
import { profileRoutes } from "./profiles/routes.js";
import type { ProfileScheduler } from "./profiles/schedules.js";
import { pushRoutes } from "./pushes/routes.js";
import { baseSetRoutes } from "./server-info/base-set-routes.js";
import { healthRoutes } from "./server-info/health-routes.js";
import { storehouseApiRoutes } from "./storehouse/api-routes.js";
import { type StorehouseRouteOptions, storehouseRoutes } from "./storehouse/cache-routes.js";
import type { QuotaGuard } from "./storehouse/gc/quota.js";
import type { GcService } from "./storehouse/gc/service.js";
import { gcRoutes } from "./storehouse/gc-routes.js";
import type { StorehouseMaintenance } from "./storehouse/maintenance.js";
import { webNotFound } from "./web/errors.js";
import { wantsHtml } from "./web/negotiate.js";
import { webRoutes } from "./web/routes.js";

export interface CreateAppOptions {
  /** Mounts the binary cache at /cache; absent in API-only tests. */
  storehouse?: StorehouseRouteOptions;
  /** The Storehouse's background sweep, which admins may also run at once (POST /api/v1/storehouse/sweep). */
  maintenance?: StorehouseMaintenance;
  /** The Storehouse's collector and quotas (/api/v1/storehouse/gc, usage, pins; /orgs/:org/retention). */
  gc?: { service: GcService; quota?: QuotaGuard };
  /** Runs the evaluations pushes queue; absent in API-only tests (they stay queued). */
  evaluator?: Evaluator;
  /** The builder API (/api/v1/builder/*): lease length, and the Storehouse to publish .drv closures to. */
  builder?: BuilderRouteOptions;
  /** Moves channels; the channel API pokes it on unpin. */
  channels?: ChannelPublisher;
  /** Makes profile generations; absent in API-only tests (edits then fail). */
  profiles?: ProfileEditor;
  /** Runs auto-upgrade schedules; told when one changes. */
  scheduler?: ProfileScheduler;
  /** Wakes machines' event streams; API-only tests get one of their own. */
  machines?: MachineHub;
  /** The git hooks' routes (/api/v1/internal/hooks/*): the server's gate settings; absent in API-only tests. */
  hooks?: Omit<HookRouteOptions, "evaluator">;
  /** The shared Nix daemon's hook routes and the relay activity log; absent when it does not run. */
  relay?: RelayRouteOptions;
}

export function createApp(ctx: AppContext, opts: CreateAppOptions = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app
    .route("/api/v1", healthRoutes(ctx))
    .route("/api/v1", baseSetRoutes(ctx))
    .route("/api/v1", orgRoutes(ctx))
    .route("/api/v1", memberRoutes(ctx))
    .route("/api/v1", userRoutes(ctx))
    .route("/api/v1", tokenRoutes(ctx))
    .route("/api/v1", pushRoutes(ctx, opts.evaluator))
    .route("/api/v1", jobsetRoutes(ctx))
    .route("/api/v1", evaluationRoutes(ctx, opts.evaluator))
    .route("/api/v1", builderRoutes(ctx, opts.builder))
    .route("/api/v1", buildRoutes(ctx))
    .route("/api/v1", channelApiRoutes(ctx, opts.channels))
    .route("/api/v1", profileRoutes(ctx, opts.profiles, opts.scheduler))
    .route("/api/v1", machineRoutes(ctx, opts.machines ? { hub: opts.machines } : {}));
  if (opts.relay) app.route("/api/v1", relayRoutes(ctx, opts.relay));
  if (opts.hooks) app.route("/api/v1", hookRoutes(ctx, { ...opts.hooks, evaluator: opts.evaluator }));
  if (opts.storehouse) {
    app.route("/cache", storehouseRoutes(ctx, opts.storehouse));
    app.route(
      "/channels",
      channelRoutes(ctx, {
        privateCache: opts.storehouse.privateCache,
        objects: opts.storehouse.storehouse.objects,
      }),
    );
    app.route("/api/v1", storehouseApiRoutes(ctx, opts.storehouse, opts.maintenance));
  }
  if (opts.gc) app.route("/api/v1", gcRoutes(ctx, opts.gc.service, opts.gc.quota));
  // Web pages last: /ORG/… must not shadow the routes above (docs/WEB.md).
  app.route(
    "/",
    webRoutes(ctx, {
      storehouse: opts.storehouse,
      channels: opts.channels,
      profiles: opts.profiles,
      machines: opts.machines,
    }),
  );

  app.notFound((c) =>
    wantsHtml(c)
      ? webNotFound(c)
      : c.json(
          errorBody(
            "not_found",
            `there is no endpoint ${c.req.method} ${c.req.path}; docs/API.md lists them`,
          ),
          404,
        ),
  );
  app.onError((err, c) => {
    const known = toHttpError(err, ctx.paths.dataDir);
    if (known?.status === 507) reportDiskFull(ctx.logger, ctx.paths.dataDir, err);
    if (known) return c.json(known.body, known.status);
    ctx.logger.error({ err, method: c.req.method, path: c.req.path }, "request failed");
    const fault = internalError();
    return c.json(fault.body, fault.status);
  });
  return app;
}
