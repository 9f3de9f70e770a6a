// How the API client (client.ts) talks HTTP: one request with its answer checked by a schema, or a stream, and
// every failure turned into ApiError, ApiUnreachableError or ApiResponseError.
import type { z } from "zod";
import { ApiError, ApiResponseError, ApiUnreachableError, parseErrorBody } from "./errors.js";
import type { Repeat, ServerList } from "./servers.js";

/** Where requests go and how. */
export interface Connection {
  /** The servers (base URLs without `/api/v1`), and which one is asked next. */
  servers: ServerList;
  token: string | undefined;
  /** Per request (not for streams). */
  timeoutMs: number;
}

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * `body` goes as JSON, or as it is when it is bytes. A 204 answers `null` to the schema (the claim of a builder that
 * got nothing); with `schema` null the answer is not read as JSON at all. A server that is away or answers 5xx
 * hands the request to the next server (servers.ts) as `repeat` allows: by default GET, PUT and DELETE may be
 * repeated, POST and PATCH only when they were certainly not sent.
 */
export async function request<S extends z.ZodTypeAny>(
  conn: Connection,
  method: Method,
  path: string,
  schema: S,
  body?: unknown,
  repeat?: Repeat,
  signal?: AbortSignal,
): Promise<z.infer<S>>;
export async function request(
  conn: Connection,
  method: Method,
  path: string,
  schema: null,
  body?: unknown,
  repeat?: Repeat,
  signal?: AbortSignal,
): Promise<undefined>;
export async function request(
  conn: Connection,
  method: Method,
  path: string,
  schema: z.ZodTypeAny | null,
  body?: unknown,
  repeat?: Repeat,
  signal?: AbortSignal,
): Promise<unknown> {
  const how = repeat ?? (method === "POST" || method === "PATCH" ? "unsent-only" : "idempotent");
  return conn.servers.run(how, (server) => requestOnce(conn, server, method, path, schema, body, signal));
}

async function requestOnce(
  conn: Connection,
  server: string,
  method: Method,
  path: string,
  schema: z.ZodTypeAny | null,
  body: unknown,
  signal?: AbortSignal,
): Promise<unknown> {
  const url = `${server}/api/v1${path}`;
  const headers: Record<string, string> = { accept: "application/json" };
  if (conn.token) headers.authorization = `Bearer ${conn.token}`;
  const raw = body instanceof Uint8Array;
  if (body !== undefined) headers["content-type"] = raw ? "application/octet-stream" : "application/json";

  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
      signal: signal
        ? AbortSignal.any([signal, AbortSignal.timeout(conn.timeoutMs)])
        : AbortSignal.timeout(conn.timeoutMs),
    });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw new ApiUnreachableError(server, networkReason(err, conn.timeoutMs));
  }

  const text = await res.text();
  if (!res.ok) throw errorFromAnswer(res, text, url);
  if (schema === null) return undefined;

  let json: unknown;
  try {
    json = res.status === 204 ? null : JSON.parse(text);
  } catch {
    throw new ApiResponseError(`${method} ${url} answered ${res.status} with something that is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join(".")}` : "";
    throw new ApiResponseError(
      `${method} ${url} answered in an unexpected shape${where}: ${issue?.message ?? "invalid"} (is the server the same flox version?)`,
    );
  }
  return parsed.data;
}

/**
 * A GET whose answer is read as it comes (a followed log, an event stream): no timeout, `signal` ends it. Opening
 * it fails over like any GET; a stream that breaks later is resumed by its caller (by event id or offset).
 */
export async function stream(
  conn: Connection,
  path: string,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  return conn.servers.run("idempotent", (server) => streamOnce(conn, server, path, headers, signal), signal);
}

async function streamOnce(
  conn: Connection,
  server: string,
  path: string,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  const url = `${server}/api/v1${path}`;
  if (conn.token) headers.authorization = `Bearer ${conn.token}`;
  let res: Response;
  try {
    res = await fetch(url, signal ? { headers, signal } : { headers });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiUnreachableError(server, networkReason(err, conn.timeoutMs));
  }
  if (!res.ok || !res.body) throw errorFromAnswer(res, await res.text(), url);
  return res.body;
}

/** A path segment. */
export function seg(value: string): string {
  return encodeURIComponent(value);
}

function errorFromAnswer(res: Response, text: string, url: string): ApiError {
  const error = parseErrorBody(text);
  if (error) return new ApiError(res.status, error.code, error.message, url);
  // Not our error format: a proxy, or not a flox server at all. Show a bit of what came back.
  const snippet = text.trim().slice(0, 200);
  const message = `${url} answered ${res.status} ${res.statusText}${snippet ? `: ${snippet}` : ""}`;
  return new ApiError(res.status, "http_error", message, url);
}

// fetch() wraps the interesting error (ECONNREFUSED, ENOTFOUND, …) in `cause`, sometimes two levels deep.
function networkReason(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
    return `no answer within ${timeoutMs / 1000}s`;
  }
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e instanceof Error; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && !code.startsWith("UND_ERR_")) return code;
    if (e.cause === undefined) break;
    e = e.cause;
  }
  return e instanceof Error ? e.message : String(err);
}
