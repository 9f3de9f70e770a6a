// Channels as JSON: where each points, its history, pin and unpin. The Nix channel URLs are tarball-routes.ts.

import { type Context, Hono } from "hono";
import {
  type ChannelHistoryResponse,
  type ChannelResponse,
  type ChannelsResponse,
  PinChannelBody,
} from "../../lib/api/channels.js";
import { Branch, Name } from "../../lib/api/common.js";
import { getJobset, listJobsets } from "../evaluations/data.js";
import { optionalToken, requireToken, tokenOrNull } from "../http/auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { jsonBody, param } from "../http/validate.js";
import { orgsOfQuery } from "../orgs/org-filter.js";
import { getOrg } from "../orgs/orgs.js";
import { getReadableOrg, requireRole } from "../orgs/permissions.js";
import { actorOf } from "../orgs/tokens.js";
import { type ChannelPublisher, channelName, DEFAULT_BRANCH, pinChannel, unpinChannel } from "./channels.js";
import { presentChannel, presentChannelHistory, presentChannelSummary } from "./present.js";

export function channelApiRoutes(ctx: AppContext, publisher?: ChannelPublisher): Hono<AppEnv> {
  const { db } = ctx;
  const auth = requireToken(ctx);
  const maybe = optionalToken(ctx);
  /** The org (readable, or with `member` checked) and the jobset of `:branch`, or of main when the route has none. */
  const resolve = async (c: Context<AppEnv>, role: "reader" | "member") => {
    const name = param(c, "org", Name);
    const org = role === "reader" ? await getReadableOrg(db, tokenOrNull(c), name) : await getOrg(db, name);
    if (role !== "reader") await requireRole(db, c.get("token"), org, role);
    const branch = c.req.param("branch") === undefined ? DEFAULT_BRANCH : param(c, "branch", Branch);
    return { org, jobset: await getJobset(db, org, branch) };
  };
  const origin = (url: string) => new URL(url).origin;
  return new Hono<AppEnv>()
    .get("/channels", auth, async (c) => {
      const channels: ChannelsResponse["channels"] = [];
      for (const o of await orgsOfQuery(db, c.get("token"), c.req.query("org"))) {
        for (const j of await listJobsets(db, o)) {
          channels.push(await presentChannelSummary(db, origin(c.req.url), o, j));
        }
      }
      return c.json({ channels } satisfies ChannelsResponse);
    })
    .get("/channels/:org", maybe, async (c) => {
      const { org, jobset } = await resolve(c, "reader");
      return c.json({
        channel: await presentChannel(db, origin(c.req.url), org, jobset),
      } satisfies ChannelResponse);
    })
    .get("/channels/:org/:branch", maybe, async (c) => {
      const { org, jobset } = await resolve(c, "reader");
      return c.json({
        channel: await presentChannel(db, origin(c.req.url), org, jobset),
      } satisfies ChannelResponse);
    })
    .get("/channels/:org/:branch/history", maybe, async (c) => {
      const { jobset } = await resolve(c, "reader");
      return c.json({
        history: await presentChannelHistory(db, jobset.id),
      } satisfies ChannelHistoryResponse);
    })
    .post("/channels/:org/:branch/pin", auth, async (c) => {
      const token = c.get("token");
      const { org, jobset } = await resolve(c, "member");
      const body = await jsonBody(c, PinChannelBody);
      const point = await pinChannel(db, jobset, body.evaluation, actorOf(token));
      publisher?.emit("pinned", point);
      ctx.logger.info({ channel: channelName(org.name, jobset.branch), point: point.id }, "channel pinned");
      const fresh = await getJobset(db, org, jobset.branch);
      return c.json({
        channel: await presentChannel(db, origin(c.req.url), org, fresh),
      } satisfies ChannelResponse);
    })
    .post("/channels/:org/:branch/unpin", auth, async (c) => {
      const { org, jobset } = await resolve(c, "member");
      await unpinChannel(db, jobset);
      publisher?.poke();
      const fresh = await getJobset(db, org, jobset.branch);
      return c.json({
        channel: await presentChannel(db, origin(c.req.url), org, fresh),
      } satisfies ChannelResponse);
    });
}
