// The fleet pages (issue 6, part B): channels, profiles (with the rollback button), machines, and the shared
// Storehouse and builders. webRoutes (routes.tsx) mounts them; what they need beyond the context comes from
// createApp's options.
import { Hono } from "hono";
import type { ChannelPublisher } from "../channels/channels.js";
import type { AppContext } from "../http/context.js";
import type { MachineHub } from "../machines/hub.js";
import type { ProfileEditor } from "../profiles/editor.js";
import type { StorehouseRouteOptions } from "../storehouse/cache-routes.js";
import { channelPages } from "./pages/channels.js";
import { infraPages } from "./pages/infra.js";
import { machinePages } from "./pages/machines.js";
import { profilePages } from "./pages/profiles.js";
import type { WebEnv } from "./viewer.js";

export interface FleetOptions {
  storehouse?: StorehouseRouteOptions | undefined;
  channels?: ChannelPublisher | undefined;
  profiles?: ProfileEditor | undefined;
  machines?: MachineHub | undefined;
}

export function fleetRoutes(ctx: AppContext, opts: FleetOptions = {}): Hono<WebEnv> {
  return new Hono<WebEnv>()
    .route(
      "/",
      channelPages(ctx, {
        publicKey: opts.storehouse?.storehouse.publicKey,
        privateCache: opts.storehouse?.privateCache,
        channels: opts.channels,
      }),
    )
    .route("/", profilePages(ctx, { profiles: opts.profiles, machines: opts.machines }))
    .route("/", machinePages(ctx, { machines: opts.machines }))
    .route("/", infraPages(ctx, { storehouse: opts.storehouse }));
}
