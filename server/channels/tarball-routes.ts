// /channels/<org>[/<branch>]: Nix channel URLs, for `nix-channel --add http://HOST/channels/acme acme`.
// Plain text like the Storehouse (people read these answers in nix's error output), under the cache's read
// setting, and a private org's channels only for tokens that may read it. The URL stays the same while the channel moves, so answers are revalidated (ETag, 304), never kept.
import { Hono } from "hono";
import { Branch, Name } from "../../lib/api/common.js";
import { findJobset } from "../evaluations/data.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { toHttpError } from "../http/errors.js";
import { findOrg } from "../orgs/orgs.js";
import { mayRead } from "../orgs/permissions.js";
import { cacheReader, orgReaderToken, refuseOrgRead } from "../storehouse/auth.js";
import type { ObjectStore } from "../storehouse/objects/object-store.js";
import { bytesResponse, objectResponse } from "../storehouse/serve-file.js";
import { channelName, currentPoint, publishedJobs, splitChannelName } from "./channels.js";
import { channelExpression, channelTarball, type TarballKind } from "./tarball.js";

const FILES: Record<string, TarballKind | "binary-cache-url"> = {
  "nixexprs.tar.xz": "xz",
  "nixexprs.tar.bz2": "bz2",
  "binary-cache-url": "binary-cache-url",
};

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(`${body}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-cache", ...headers },
  });
}

export function channelRoutes(
  ctx: AppContext,
  opts: { privateCache: boolean; objects: ObjectStore },
): Hono<AppEnv> {
  const { db } = ctx;
  const app = new Hono<AppEnv>().get("/*", cacheReader(ctx, opts.privateCache), async (c) => {
    const rest = decodeURIComponent(c.req.path.replace(/^\/channels\/?/, "")).replace(/\/+$/, "");
    const parts = rest.split("/");
    const last = parts[parts.length - 1] ?? "";
    const file = FILES[last];
    if (file) parts.pop();
    const name = parts.join("/");
    const { org: orgName, branch } = splitChannelName(name);
    const org = Name.safeParse(orgName).success ? await findOrg(db, orgName) : undefined;
    const noChannel = () =>
      text(404, `there is no channel "${name}" here; channels are ORG (branch main) or ORG/BRANCH`);
    // A private org's channel is as invisible as one that does not exist, to anyone who may not read the org.
    const token = await orgReaderToken(ctx, c);
    if (!org || !(await mayRead(db, token, org))) return refuseOrgRead(token, `channel "${name}"`, noChannel);
    const jobset = Branch.safeParse(branch).success ? await findJobset(db, org, branch) : undefined;
    if (!jobset) return noChannel();
    const point = await currentPoint(db, jobset.id);
    if (!point) {
      return text(
        404,
        `channel "${name}" has no green evaluation yet: it is published once every job of an evaluation of ${org.name}/${branch} is built`,
      );
    }
    const origin = new URL(c.req.url).origin;
    if (file === "binary-cache-url") return text(200, `${origin}/cache`);
    if (!file) {
      // nix-channel fetches this first and only needs a 2xx; people get a summary.
      return bytesResponse(
        c.req.raw,
        `flox channel ${name}: evaluation #${point.evaluationId} of ${org.name}/${branch} at ${point.commitSha}\n` +
          `published ${point.createdAt}; nixexprs.tar.xz and nixexprs.tar.bz2 here; binary cache ${origin}/cache\n`,
        {
          contentType: "text/plain; charset=utf-8",
          etag: `"point-${point.id}"`,
          cacheControl: "no-cache",
        },
      );
    }
    const topDir = `${channelName(org.name, branch).replace(/\//g, "-")}-${point.evaluationId}`;
    const tarball = await channelTarball(opts.objects, ctx.paths.channels, point.id, file, topDir, async () =>
      channelExpression(
        `channel ${name}: evaluation #${point.evaluationId} of ${org.name}/${branch} at ${point.commitSha}`,
        await publishedJobs(db, point.evaluationId),
      ),
    );
    const res = await objectResponse(c.req.raw, opts.objects, tarball.key, {
      contentType: file === "xz" ? "application/x-xz" : "application/x-bzip2",
      etag: tarball.etag,
      cacheControl: "no-cache",
    });
    return res ?? text(404, `the tarball of channel "${name}" vanished; try again`);
  });
  // Plain text like the Storehouse, and a Basic challenge on 401 so that clients with a netrc retry with it.
  app.onError((err, c) => {
    const known = toHttpError(err);
    if (!known) {
      ctx.logger.error({ err, path: c.req.path }, "channel request failed");
      return text(500, "this channel request failed; the details are in the server log");
    }
    const challenge: Record<string, string> =
      known.status === 401 ? { "www-authenticate": 'Basic realm="flox channels"' } : {};
    return text(known.status, known.body.error.message, challenge);
  });
  return app;
}
