// The builder's side of the HTTP API: every call goes through api(), so that a lost lease and a refused token
// become the errors the claim loop and the build act on; the retry pause the loop shares.
import type { ApiClient } from "../../lib/api/client.js";
import { ApiError, ApiUnreachableError } from "../../lib/api/errors.js";
import { wasNotSent } from "../../lib/api/servers.js";

export class LeaseLostError extends Error {
  override name = "LeaseLostError";
}

/**
 * The server answered 401 or 403: the token is wrong, revoked or not a builder token. Retrying cannot help (unlike
 * a network error or a 5xx), so the builder stops and says how to get a good token.
 */
export class BuilderTokenRefusedError extends Error {
  override name = "BuilderTokenRefusedError";
  constructor(
    readonly server: string,
    readonly status: number,
    readonly serverMessage: string,
  ) {
    super(
      `the server ${server} refused this token (HTTP ${status}${serverMessage ? `: ${serverMessage}` : ""}). ` +
        "A builder needs a builder token: an admin makes one with `flox token create --builder --name NAME`; " +
        "pass it with --token or FLOX_TOKEN.",
    );
  }
}

/** The `message` of the API's `{"error": {"message"}}` body, or the text as it came. */
export function errorText(text: string): string {
  try {
    const m = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof m === "string") return m;
  } catch {
    // not JSON: the raw text is the best we have
  }
  return text.trim().slice(0, 500);
}

/** What api() needs of the builder's environment. */
export interface ApiCaller {
  server: string;
  client: ApiClient;
  /** Called when the server refuses the token, from any request: the builder then stops. */
  refused: (err: BuilderTokenRefusedError) => void;
}

/**
 * One call of the builder API: a 409 (the lease is gone) becomes LeaseLostError, a 401/403 BuilderTokenRefusedError
 * (and the builder stops), any other answer ApiCallError; network errors are the client's, as they came.
 */
export async function api<T>(
  e: ApiCaller,
  what: string,
  call: (client: ApiClient) => Promise<T>,
): Promise<T> {
  try {
    return await call(e.client);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 409) throw new LeaseLostError(`${what}: the lease is gone`);
    if (err.status === 401 || err.status === 403) {
      const refused = new BuilderTokenRefusedError(e.server, err.status, err.message);
      e.refused(refused);
      throw refused;
    }
    throw new ApiCallError(`${what}: HTTP ${err.status}: ${err.message}`, err.status);
  }
}

/** The server answered a builder call with an error status other than 401, 403 and 409. */
export class ApiCallError extends Error {
  override name = "ApiCallError";
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * Whether the request surely changed nothing, so that sending it again cannot do it twice: the connection was
 * refused (or the name did not resolve), or the server answered 5xx (it stores a log chunk only before a 2xx).
 */
export function notDelivered(err: unknown): boolean {
  return wasNotSent(err) || (err instanceof ApiCallError && err.status >= 500);
}

/** Whether asking again may help: the server could not be reached, or answered 5xx (restarting, its database away). */
export function serverAway(err: unknown): boolean {
  return err instanceof ApiUnreachableError || (err instanceof ApiCallError && err.status >= 500);
}

/** How long to wait before asking again after a network error or a 5xx. */
export const RETRY_MS = 2000;

export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((done) => {
    const wake = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", wake);
      done();
    };
    const t = setTimeout(wake, ms);
    signal?.addEventListener("abort", wake);
  });
}
