// Answers for immutable files: strong ETags, If-None-Match → 304, single byte ranges → 206, HEAD without a body.
// Never a Content-Encoding: Nix sends no Accept-Encoding and would store a compressed NAR's bytes as they come.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";

/** A year: everything served with it is content-addressed or immutable once accepted. */
export const IMMUTABLE = "public, max-age=31536000, immutable";
export const IMMUTABLE_PRIVATE = "private, max-age=31536000, immutable";

export interface Served {
  contentType: string;
  /** Quoted strong ETag. */
  etag: string;
  cacheControl: string;
  /** Whether Range requests are honoured (NARs: Nix resumes and reads single files with them). */
  ranges?: boolean;
  /** More headers for 200, 206 and 304 answers alike. */
  headers?: Record<string, string>;
}

/** Does If-None-Match name this ETag? Weak comparison, as RFC 9110 asks for this header. */
export function notModified(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === "*") return true;
  const bare = etag.replace(/^W\//, "");
  return ifNoneMatch.split(",").some((t) => t.trim().replace(/^W\//, "") === bare);
}

export type RangeResult =
  | { kind: "none" }
  | { kind: "unsatisfiable" }
  | { kind: "range"; start: number; end: number };

/** One `bytes=` range of a `size`-byte file; several ranges or odd syntax fall back to the whole file. */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (!header) return { kind: "none" };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return { kind: "none" };
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return { kind: "unsatisfiable" };
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== "" && Number(m[2]) < start) return { kind: "none" };
  }
  if (!Number.isSafeInteger(start) || start >= size) return { kind: "unsatisfiable" };
  return { kind: "range", start, end };
}

function baseHeaders(s: Served): Record<string, string> {
  const h: Record<string, string> = {
    ...s.headers,
    "content-type": s.contentType,
    etag: s.etag,
    "cache-control": s.cacheControl,
  };
  if (s.ranges) h["accept-ranges"] = "bytes";
  return h;
}

/** An in-memory body (narinfo, listing) with the same rules. */
export function bytesResponse(req: Request, body: string | Buffer, s: Served): Response {
  const headers = baseHeaders(s);
  if (notModified(req.headers.get("if-none-match") ?? undefined, s.etag))
    return new Response(null, { status: 304, headers });
  const buf = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  headers["content-length"] = String(buf.length);
  return new Response(req.method === "HEAD" ? null : buf, { status: 200, headers });
}

/** A file on disk, streamed; undefined when it does not exist. */
export async function fileResponse(req: Request, file: string, s: Served): Promise<Response | undefined> {
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) return undefined;
    size = st.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const headers = baseHeaders(s);
  if (notModified(req.headers.get("if-none-match") ?? undefined, s.etag))
    return new Response(null, { status: 304, headers });

  let status = 200;
  let start = 0;
  let end = size - 1;
  const ifRange = req.headers.get("if-range");
  if (s.ranges && (ifRange === null || ifRange === s.etag)) {
    const range = parseRange(req.headers.get("range") ?? undefined, size);
    if (range.kind === "unsatisfiable") {
      headers["content-range"] = `bytes */${size}`;
      return new Response(null, { status: 416, headers });
    }
    if (range.kind === "range") {
      status = 206;
      ({ start, end } = range);
      headers["content-range"] = `bytes ${start}-${end}/${size}`;
    }
  }
  const length = size === 0 ? 0 : end - start + 1;
  headers["content-length"] = String(length);
  if (req.method === "HEAD" || length === 0) return new Response(null, { status, headers });
  const stream = Readable.toWeb(
    createReadStream(file, { start, end }),
  ) as unknown as ReadableStream<Uint8Array>;
  return new Response(stream, { status, headers });
}
