// The two reads that are nearly all of a binary cache's traffic, narinfos and NARs, answered on node:http itself
// before the hono app: a narinfo from memory, a NAR file sent from the file: store in 1 MiB chunks (send-file-range.ts). Through hono
// each cost 2–5× nginx's (web streams, routing, a hash per narinfo: bench/README.md). Anything this cannot decide
// from memory goes on to hono, which answers by the full rules (cache-routes.ts): a narinfo not in memory, a
// private cache's request whose Authorization was not just seen to be good, a NAR not on disk, any other method.
import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { narKey } from "./layout.js";
import { narFileHash } from "./names.js";
import { FileObjectStore } from "./objects/file.js";
import type { ReadGrants } from "./read-grants.js";
import { sendFileRange } from "./send-file-range.js";
import { IMMUTABLE, IMMUTABLE_PRIVATE, notModified, parseRange } from "./serve-file.js";
import type { Storehouse } from "./store.js";

export interface CacheFastPathOptions {
  storehouse: Storehouse;
  privateCache: boolean;
  /** Which Authorization headers auth.ts's cacheReader just let read a private cache. */
  grants: ReadGrants;
  logger: Logger;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** Takes a request (true) or leaves it to `fallback` (false, having touched nothing). */
export type CacheFastPath = (req: IncomingMessage, res: ServerResponse, fallback: Listener) => boolean;

const NARINFO_URL = /^\/cache\/([0-9a-df-np-sv-z]{32})\.narinfo(?:\?.*)?$/;
const NAR_URL = /^\/cache\/nar\/([0-9a-df-np-sv-z]{52}\.nar(?:\.(?:br|gz|bz2|xz|zst))?)(?:\?.*)?$/;

export function cacheFastPath(opts: CacheFastPathOptions): CacheFastPath {
  const { storehouse, grants, logger } = opts;
  const cacheControl = opts.privateCache ? IMMUTABLE_PRIVATE : IMMUTABLE;
  // Another store (S3) streams or redirects through hono as before.
  const files = storehouse.objects instanceof FileObjectStore ? storehouse.objects : undefined;

  return (req, res, fallback) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const url = req.url ?? "";
    if (!url.startsWith("/cache/")) return false;
    if (opts.privateCache && !grants.allows(req.headers.authorization)) return false;
    const info = NARINFO_URL.exec(url);
    if (info) {
      const hit = storehouse.cachedNarInfo(info[1] as string);
      if (!hit) return false;
      const headers: OutgoingHttpHeaders = {
        "content-type": "text/x-nix-narinfo",
        etag: hit.etag,
        "cache-control": cacheControl,
      };
      if (notModified(req.headers["if-none-match"], hit.etag)) {
        res.writeHead(304, headers).end();
        return true;
      }
      headers["content-length"] = hit.length;
      res.writeHead(200, headers);
      // As a string, Node sends it in one write with the header block.
      if (req.method === "HEAD") res.end();
      else res.end(hit.text);
      return true;
    }
    const nar = files && NAR_URL.exec(url);
    if (!nar) return false;
    const name = nar[1] as string;
    serveNar(req, res, files.localPath(narKey(name)), `"${narFileHash(name)}"`, cacheControl, fallback).catch(
      (err: unknown) => {
        logger.error({ err, method: req.method, url }, "cache request failed");
        if (res.headersSent) res.destroy();
        else
          res
            .writeHead(500, { "content-type": "text/plain; charset=UTF-8", "cache-control": "no-store" })
            .end("the Storehouse failed on this request; the details are in the server log\n");
      },
    );
    return true;
  };
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/** The same answers as serve-file.ts objectResponse gives for a NAR: 200, 206, 304, 416, HEAD without a body. */
async function serveNar(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  etag: string,
  cacheControl: string,
  fallback: Listener,
): Promise<void> {
  let file: FileHandle;
  try {
    file = await open(path, "r");
  } catch (err) {
    // Not here: hono says so in its words (and a GC or quarantine may just have taken it).
    if (isMissing(err)) return fallback(req, res);
    throw err;
  }
  try {
    const st = await file.stat();
    if (!st.isFile()) return fallback(req, res);
    const size = st.size;
    const headers: OutgoingHttpHeaders = {
      "content-type": "application/x-nix-nar",
      etag,
      "cache-control": cacheControl,
      "accept-ranges": "bytes",
    };
    if (notModified(req.headers["if-none-match"], etag)) {
      res.writeHead(304, headers).end();
      return;
    }
    const ifRange = req.headers["if-range"];
    const range = ifRange === undefined || ifRange === etag ? parseRange(req.headers.range, size) : undefined;
    if (range?.kind === "unsatisfiable") {
      headers["content-range"] = `bytes */${size}`;
      headers["content-length"] = 0;
      res.writeHead(416, headers).end();
      return;
    }
    const { start, end } = range?.kind === "range" ? range : { start: 0, end: size - 1 };
    if (range?.kind === "range") headers["content-range"] = `bytes ${start}-${end}/${size}`;
    const length = size === 0 ? 0 : end - start + 1;
    headers["content-length"] = length;
    res.writeHead(range?.kind === "range" ? 206 : 200, headers);
    if (req.method === "HEAD" || length === 0) {
      res.end();
      return;
    }
    await sendFileRange(file.fd, res, start, end);
  } finally {
    await file.close();
  }
}
