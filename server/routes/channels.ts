// Channels as JSON: where each points, its history, pin and unpin. The Nix channel URLs are server/channels/routes.ts.
import { type Context, Hono } from "hono";
import {
  Branch,
  type Channel,
  type ChannelHistoryResponse,
  type ChannelPoint,
  type ChannelResponse,
  type ChannelsResponse,
  Name,
  PinChannelBody,
} from "../../lib/api-schemas.js";
import {
  type ChannelPointRow,
  type ChannelPublisher,
  channelHistory,
  channelName,
  currentPoint,
  DEFAULT_BRANCH,
  pinChannel,
  publishedJobs,
  unpinChannel,
} from "../channels/channels.js";
import type { Db } from "../db/open.js";
import { getOrg, listOrgs, type OrgRecord } from "../domain/orgs.js";
import { readableOrgIds, requireRole } from "../domain/permissions.js";
import { actorOf } from "../domain/tokens.js";
import { getJobset, type JobsetRow, listJobsets } from "../evaluations/records.js";
import { requireToken } from "./auth.js";
import type { AppContext, AppEnv } from "./env.js";
import { jsonBody, param } from "./validate.js";

const presentPoint = (p: ChannelPointRow): ChannelPoint => ({
  id: p.id,
  evaluation: p.evaluationId,
  commitSha: p.commitSha,
  reason: p.reason,
  actor: p.actor,
  createdAt: p.createdAt,
});

function summary(db: Db, origin: string, org: OrgRecord, jobset: JobsetRow): Omit<Channel, "packages"> {
  const name = channelName(org.name, jobset.branch);
  const point = currentPoint(db, jobset.id);
  return {
    name,
    org: org.name,
    branch: jobset.branch,
    url: `${origin}/channels/${name.split("/").map(encodeURIComponent).join("/")}`,
    pinned: jobset.channelPinned,
    current: point ? presentPoint(point) : null,
  };
}

function detail(db: Db, origin: string, org: OrgRecord, jobset: JobsetRow): Channel {
  const s = summary(db, origin, org, jobset);
  const packages: Record<string, string> = {};
  if (s.current) {
    for (const job of publishedJobs(db, s.current.evaluation)) {
      const out = job.outputs.out ?? Object.values(job.outputs)[0];
      if (out) packages[job.attr] = out;
    }
  }
  return { ...s, packages };
}

export function channelApiRoutes(ctx: AppContext, publisher?: ChannelPublisher): Hono<AppEnv> {
  const { db } = ctx;
  const auth = requireToken(ctx);
  /** The org (with `role` checked) and the jobset of `:branch`, or of main when the route has none. */
  const resolve = (c: Context<AppEnv>, role: "reader" | "member") => {
    const org = getOrg(db, param(c, "org", Name));
    requireRole(db, c.get("token"), org, role);
    const branch = c.req.param("branch") === undefined ? DEFAULT_BRANCH : param(c, "branch", Branch);
    return { org, jobset: getJobset(db, org, branch) };
  };
  const origin = (url: string) => new URL(url).origin;
  return new Hono<AppEnv>()
    .get("/channels", auth, (c) => {
      const ids = readableOrgIds(db, c.get("token"));
      const channels = listOrgs(db, ids).flatMap((o) =>
        listJobsets(db, o).map((j) => summary(db, origin(c.req.url), o, j)),
      );
      return c.json({ channels } satisfies ChannelsResponse);
    })
    .get("/channels/:org", auth, (c) => {
      const { org, jobset } = resolve(c, "reader");
      return c.json({ channel: detail(db, origin(c.req.url), org, jobset) } satisfies ChannelResponse);
    })
    .get("/channels/:org/:branch", auth, (c) => {
      const { org, jobset } = resolve(c, "reader");
      return c.json({ channel: detail(db, origin(c.req.url), org, jobset) } satisfies ChannelResponse);
    })
    .get("/channels/:org/:branch/history", auth, (c) => {
      const { jobset } = resolve(c, "reader");
      return c.json({
        history: channelHistory(db, jobset.id).map(presentPoint),
      } satisfies ChannelHistoryResponse);
    })
    .post("/channels/:org/:branch/pin", auth, async (c) => {
      const token = c.get("token");
      const { org, jobset } = resolve(c, "member");
      const body = await jsonBody(c, PinChannelBody);
      const point = pinChannel(db, jobset, body.evaluation, actorOf(token));
      publisher?.emit("pinned", point);
      ctx.logger.info({ channel: channelName(org.name, jobset.branch), point: point.id }, "channel pinned");
      const fresh = getJobset(db, org, jobset.branch);
      return c.json({ channel: detail(db, origin(c.req.url), org, fresh) } satisfies ChannelResponse);
    })
    .post("/channels/:org/:branch/unpin", auth, (c) => {
      const { org, jobset } = resolve(c, "member");
      unpinChannel(db, jobset);
      publisher?.poke();
      const fresh = getJobset(db, org, jobset.branch);
      return c.json({ channel: detail(db, origin(c.req.url), org, fresh) } satisfies ChannelResponse);
    });
}
