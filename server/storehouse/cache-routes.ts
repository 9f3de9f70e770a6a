// /cache: the Storehouse as a Nix binary cache (the layout `nix copy --to http://…` reads and writes).
// Answers are plain text, not the API's JSON: the people reading them are looking at nix's error output.
import { Readable } from "node:stream";
import type { Context } from "hono";
import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import { LISTING_SIGNATURE_HEADER } from "../../lib/signature.js";
import { buildLog } from "../builds/build-log.js";
import { findBuildByDrv } from "../builds/builds.js";
import { reportDiskFull } from "../disk-full.js";
import { QuotaExceededError } from "../errors.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { toHttpError } from "../http/errors.js";
import { buildRole, mayReadBuild } from "../orgs/permissions.js";
import { cacheReader, cacheWriter, orgReaderToken, refuseOrgRead } from "./auth.js";
import { PayloadTooLargeError } from "./errors.js";
import type { GcService } from "./gc/service.js";
import { listingKey, listingSigKey, narKey } from "./layout.js";
import { NarFileName, narFileHash, parseCacheFileName } from "./names.js";
import { getText } from "./objects/object-store.js";
import type { ReadGrants } from "./read-grants.js";
import {
  bytesResponse,
  IMMUTABLE,
  IMMUTABLE_PRIVATE,
  notModified,
  objectResponse,
  strongEtag,
} from "./serve-file.js";
import type { PutResult, Storehouse } from "./store.js";

/** `<32 nix32 chars>-<name>.drv`, nothing else: it becomes a database lookup. */
const DrvBaseName = z.string().regex(/^[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]{1,207}\.drv$/);

export interface StorehouseRouteOptions {
  storehouse: Storehouse;
  /** Reads need a token too (`flox server --private-cache`). */
  privateCache: boolean;
  /** The collector, for the lifecycle figures of `GET /storehouse` and its page; absent in API-only tests. */
  gc?: GcService | undefined;
  /**
   * NAR reads answer 307 to a presigned URL of the object store instead of streaming (`--nar-redirect`), for
   * clients that reach the store directly; where the store has no such URLs (file:), NARs are streamed anyway.
   */
  narRedirect?: boolean | undefined;
  /**
   * Asked on a narinfo miss: puts the path into the Storehouse if another store of this server holds it (the shared
   * Nix daemon's, for paths its clients added), and says whether it did.
   */
  publishOnMiss?: (hash: string) => Promise<boolean>;
  /** Where reads of a private cache that were let through are remembered, for the fast path (cache-fast-path.ts). */
  grants?: ReadGrants | undefined;
}

/** How long a presigned NAR URL lasts; the redirect itself may be kept for less (REDIRECT_MAX_AGE). */
const PRESIGNED_SECONDS = 3600;
const REDIRECT_MAX_AGE = 300;

/** Lower is tried first; cache.nixos.org says 40, so a fleet's own cache goes before it. */
export const CACHE_PRIORITY = 30;

export const NIX_CACHE_INFO = `StoreDir: /nix/store\nWantMassQuery: 1\nPriority: ${CACHE_PRIORITY}\n`;

function text(
  c: Context,
  status: ContentfulStatusCode,
  message: string,
  headers: Record<string, string> = {},
) {
  return c.text(`${message}\n`, status, { "cache-control": "no-store", ...headers });
}

function notFound(c: Context, what: string) {
  return text(c, 404, `${what} is not in this cache`);
}

function stored(c: Context, result: PutResult) {
  return text(c, result === "created" ? 201 : 200, result === "created" ? "stored" : "already stored");
}

function tooLargeByHeader(c: Context, limit: number, what: string): void {
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > limit)
    throw new PayloadTooLargeError(`${what} is larger than this server accepts (${limit} bytes)`);
}

export function storehouseRoutes(ctx: AppContext, opts: StorehouseRouteOptions): Hono<AppEnv> {
  const { storehouse } = opts;
  const read = cacheReader(ctx, opts.privateCache, opts.grants);
  const write = cacheWriter(ctx);
  const immutable = opts.privateCache ? IMMUTABLE_PRIVATE : IMMUTABLE;
  const etagOf = strongEtag;

  const app = new Hono<AppEnv>()
    .get("/nix-cache-info", read, (c) =>
      bytesResponse(c.req.raw, NIX_CACHE_INFO, {
        contentType: "text/x-nix-cache-info",
        etag: etagOf(NIX_CACHE_INFO),
        cacheControl: opts.privateCache ? "private, max-age=300" : "public, max-age=300",
      }),
    )
    // The public key is public whatever the read setting: clients need it to configure themselves.
    .get("/public-key", (c) =>
      bytesResponse(c.req.raw, `${storehouse.publicKey}\n`, {
        contentType: "text/plain; charset=utf-8",
        etag: etagOf(storehouse.publicKey),
        cacheControl: "public, max-age=300",
      }),
    )
    .get("/nar/:file", read, async (c) => {
      const name = c.req.param("file");
      if (!NarFileName.safeParse(name).success) return notFound(c, `nar/${name}`);
      if (opts.narRedirect && c.req.method === "GET") {
        const url = await storehouse.objects.presign(narKey(name), PRESIGNED_SECONDS);
        if (url) {
          // Without a look first a client would be sent to the store's 404, in the store's words.
          if (!(await storehouse.objects.head(narKey(name)))) return notFound(c, `nar/${name}`);
          return c.body(null, 307, {
            location: url,
            "cache-control": `${opts.privateCache ? "private" : "public"}, max-age=${REDIRECT_MAX_AGE}`,
          });
        }
      }
      const res = await objectResponse(c.req.raw, storehouse.objects, narKey(name), {
        contentType: "application/x-nix-nar",
        // The name is the sha256 of the bytes, checked at upload: the strongest validator there is.
        etag: `"${narFileHash(name)}"`,
        cacheControl: immutable,
        ranges: true,
      });
      return res ?? notFound(c, `nar/${name}`);
    })
    .put("/nar/:file", write, async (c) => {
      tooLargeByHeader(c, storehouse.limits.nar, "the NAR");
      return stored(c, await storehouse.putNar(c.req.param("file"), c.req.raw.body));
    })
    // `nix log --store URL PATH` reads the output's Deriver, then log/<drv>: the log of that derivation's build.
    .get("/log/:drv", read, async (c) => {
      const drv = c.req.param("drv");
      const build = DrvBaseName.safeParse(drv).success
        ? await findBuildByDrv(ctx.db, `/nix/store/${drv}`)
        : undefined;
      const missing = () => notFound(c, `log/${drv}`);
      // Builds are shared by drv path: a token that may read one org that wants it reads its log (anyone, when
      // one such org is public); to everyone else it is as absent as a log that does not exist.
      const token = await orgReaderToken(ctx, c);
      if (!build || !mayReadBuild(await buildRole(ctx.db, token, build.id))) {
        return refuseOrgRead(token, `the log of ${drv}`, missing);
      }
      const log = buildLog(ctx, build.id);
      const { size, pieces } = await log.stat();
      if (pieces === 0) return notFound(c, `log/${drv}`);
      // A log grows while its build runs and again at a restart: revalidate, never keep.
      const etag = `"log-${build.id}-${size}-${pieces}"`;
      const headers = { "content-type": "text/plain; charset=utf-8", etag, "cache-control": "no-cache" };
      if (notModified(c.req.header("if-none-match"), etag))
        return new Response(null, { status: 304, headers });
      const body =
        c.req.method === "HEAD" ? null : (Readable.toWeb(log.stream()) as ReadableStream<Uint8Array>);
      return new Response(body, { status: 200, headers: { ...headers, "content-length": String(size) } });
    })
    .get("/:file", read, async (c) => {
      const name = c.req.param("file");
      const parsed = parseCacheFileName(name);
      if (!parsed) return notFound(c, name);
      let narinfo = await storehouse.narInfoText(parsed.hash);
      if (narinfo === undefined && (await opts.publishOnMiss?.(parsed.hash))) {
        narinfo = await storehouse.narInfoText(parsed.hash);
      }
      if (narinfo === undefined) return notFound(c, name);
      if (parsed.kind === "narinfo") {
        return bytesResponse(c.req.raw, narinfo, {
          contentType: "text/x-nix-narinfo",
          etag: etagOf(narinfo),
          cacheControl: immutable,
        });
      }
      const sig = await getText(storehouse.objects, listingSigKey(parsed.hash));
      const res = await objectResponse(c.req.raw, storehouse.objects, listingKey(parsed.hash), {
        contentType: "application/json",
        // The listing is made from the verified NAR once the narinfo is accepted and never changes after.
        etag: `"ls-${etagOf(narinfo).slice(1)}`,
        cacheControl: immutable,
        ...(sig ? { headers: { [LISTING_SIGNATURE_HEADER]: sig.trim() } } : {}),
      });
      return res ?? notFound(c, name);
    })
    .put("/:file", write, async (c) => {
      const name = c.req.param("file");
      const parsed = parseCacheFileName(name);
      if (!parsed) {
        return text(
          c,
          400,
          `'${name}' is not a file this cache accepts: <hash>.narinfo, <hash>.ls or nar/<file>`,
        );
      }
      if (parsed.kind === "narinfo") {
        tooLargeByHeader(c, storehouse.limits.narinfo, "the narinfo");
        const result = await storehouse.putNarInfo(parsed.hash, c.req.raw.body);
        if (result === "created")
          ctx.logger.info({ hash: parsed.hash, by: c.get("token").id }, "cache path stored");
        return stored(c, result);
      }
      tooLargeByHeader(c, storehouse.limits.listing, "the .ls listing");
      return stored(c, await storehouse.putListing(parsed.hash, c.req.raw.body));
    })
    .all("*", (c) => text(c, 404, `there is nothing at ${c.req.method} ${c.req.path} in this cache`));

  app.onError((err, c) => {
    const known = toHttpError(err, ctx.paths.dataDir);
    if (known?.status === 507 && !(err instanceof QuotaExceededError))
      reportDiskFull(ctx.logger, ctx.paths.dataDir, err);
    if (known) {
      const extra: Record<string, string> =
        known.status === 401 ? { "www-authenticate": 'Basic realm="flox Storehouse"' } : {};
      return text(c, known.status, known.body.error.message, extra);
    }
    ctx.logger.error({ err, method: c.req.method, path: c.req.path }, "cache request failed");
    return text(c, 500, "the Storehouse failed on this request; the details are in the server log");
  });
  return app;
}
