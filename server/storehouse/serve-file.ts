// Answers for immutable files: strong ETags, If-None-Match → 304, single byte ranges → 206, HEAD without a body.
// Never a Content-Encoding: Nix sends no Accept-Encoding and would store a compressed NAR's bytes as they come.
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { type ByteRange, type ObjectStore, UnsatisfiableRangeError } from "./objects/object-store.js";

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

/** A quoted strong ETag of in-memory bytes (narinfos, nix-cache-info): their sha256. */
export function strongEtag(body: string | Buffer): string {
  return `"${createHash("sha256").update(body).digest("base64url")}"`;
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

/** One single `bytes=` range in the syntax parseRange accepts, for the object store to apply (or undefined). */
export function parseRangeSpec(header: string | undefined): ByteRange | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec((header ?? "").trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") return { suffix: Number(m[2]) };
  if (m[2] !== "" && Number(m[2]) < Number(m[1])) return undefined;
  return { first: Number(m[1]), ...(m[2] === "" ? {} : { last: Number(m[2]) }) };
}

/**
 * An object of the store, streamed; undefined when it does not exist. A Range goes to the store as asked (an S3
 * bucket answers it itself), so a one-file fetch out of a big NAR reads only that file's bytes.
 */
export async function objectResponse(
  req: Request,
  store: ObjectStore,
  key: string,
  s: Served,
): Promise<Response | undefined> {
  const headers = baseHeaders(s);
  const ifRange = req.headers.get("if-range");
  const spec =
    s.ranges && (ifRange === null || ifRange === s.etag)
      ? parseRangeSpec(req.headers.get("range") ?? undefined)
      : undefined;
  if (req.method === "HEAD") {
    const meta = await store.head(key);
    if (!meta) return undefined;
    if (notModified(req.headers.get("if-none-match") ?? undefined, s.etag))
      return new Response(null, { status: 304, headers });
    const range: RangeResult = spec
      ? parseRange(req.headers.get("range") ?? undefined, meta.size)
      : { kind: "none" };
    return rangeAnswer(null, meta.size, range.kind === "range" ? range : undefined, range.kind, headers);
  }
  if (notModified(req.headers.get("if-none-match") ?? undefined, s.etag)) {
    // The answer must still say whether the object exists.
    return (await store.head(key)) ? new Response(null, { status: 304, headers }) : undefined;
  }
  let got: Awaited<ReturnType<ObjectStore["get"]>>;
  try {
    got = await store.get(key, spec);
  } catch (err) {
    if (!(err instanceof UnsatisfiableRangeError)) throw err;
    return rangeAnswer(null, err.size, undefined, "unsatisfiable", headers);
  }
  if (!got) return undefined;
  const stream = Readable.toWeb(got.body) as unknown as ReadableStream<Uint8Array>;
  return rangeAnswer(stream, got.meta.size, got.range, got.range ? "range" : "none", headers);
}

function rangeAnswer(
  body: ReadableStream<Uint8Array> | null,
  size: number,
  range: { start: number; end: number } | undefined,
  kind: RangeResult["kind"],
  headers: Record<string, string>,
): Response {
  if (kind === "unsatisfiable") {
    headers["content-range"] = `bytes */${size}`;
    return new Response(null, { status: 416, headers });
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  if (range) headers["content-range"] = `bytes ${start}-${end}/${size}`;
  const length = size === 0 ? 0 : end - start + 1;
  headers["content-length"] = String(length);
  if (length === 0 && body) void body.cancel();
  return new Response(length === 0 ? null : body, { status: range ? 206 : 200, headers });
}
