// The one place that knows a client may have several flox servers (`--server URL1,URL2`): it owns the list, which
// server is asked next, when a failure moves on to the next one, the backoff between rounds, and which requests
// may be repeated at all. The transport (transport.ts) sends every request and opens every stream through it.
import { retry } from "../retry.js";
import { ApiError, ApiUnreachableError } from "./errors.js";

/** A `--server` value that is not a list of http(s) URLs; the message says which part and what is expected. */
export class ServerListError extends Error {
  override name = "ServerListError";
}

/**
 * `http://a:8080,http://b:8080` (or an array of such) as base URLs without a trailing slash. Empty parts are
 * ignored, so a trailing comma is harmless; no URL at all, a scheme other than http(s) or a duplicate is an error.
 */
export function parseServers(spec: string | readonly string[]): string[] {
  const parts = (typeof spec === "string" ? spec.split(",") : spec.flatMap((s) => s.split(",")))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (parts.length === 0) {
    throw new ServerListError("no server given: pass --server URL (or URL1,URL2,… for several servers)");
  }
  const urls: string[] = [];
  for (const part of parts) {
    let url: URL;
    try {
      url = new URL(part);
    } catch {
      throw new ServerListError(
        `not a server URL: ${JSON.stringify(part)} (expected e.g. http://127.0.0.1:8080; separate several with commas)`,
      );
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new ServerListError(`not a server URL: ${JSON.stringify(part)} (only http:// and https://)`);
    }
    const base = part.replace(/\/+$/, "");
    if (urls.includes(base)) throw new ServerListError(`${base} is given twice in the server list`);
    urls.push(base);
  }
  return urls;
}

/**
 * Whether a request may be sent again, possibly to another server, when its outcome is unknown (the connection
 * broke after it was sent, a timeout, a 5xx). `idempotent`: doing it twice is the same as once (every GET, PUT and
 * DELETE, and the POSTs client.ts marks so: a heartbeat, a claim, a registration). `unsent-only`: it may have taken
 * effect (creating a token, editing a profile, appending to a log), so it moves to another server only when the
 * first one certainly never got it: nothing listening, no such host, no route.
 */
export type Repeat = "idempotent" | "unsent-only";

// Errors that prove the request never left this machine or was never accepted by a server.
const NOT_SENT = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
]);

/** Whether `err` says this server is away or failing (so another one may do better), not that the request is wrong. */
export function isServerFailure(err: unknown): boolean {
  if (err instanceof ApiUnreachableError) return true;
  return err instanceof ApiError && err.status >= 500;
}

/** Whether `err` proves the request never reached a server. */
export function wasNotSent(err: unknown): boolean {
  return err instanceof ApiUnreachableError && NOT_SENT.has(err.reason);
}

export interface ServerListOptions {
  /**
   * How many times every server is tried before a request fails (default 2). With one server a request is tried
   * once: a single URL is a load balancer or a lone server, and the callers' own loops decide about waiting.
   */
  rounds?: number;
  /** The wait after a round in which every server failed; doubled after each round (default 500 ms). */
  roundDelayMs?: number;
  /** Told when a server failed and the next one is asked (default: nothing). */
  onFailover?: (from: string, to: string, err: Error) => void;
}

export class ServerList {
  readonly urls: readonly string[];
  #current = 0;
  readonly #o: ServerListOptions;

  constructor(spec: string | readonly string[], o: ServerListOptions = {}) {
    this.urls = parseServers(spec);
    this.#o = o;
  }

  /** The server asked next: the one that answered last, or the next after one that failed. */
  get current(): string {
    return this.urls[this.#current] as string;
  }

  /**
   * `url` failed: later requests go to the server after it. Several requests that fail on the same server at once
   * move on only once (the failure is about `url`, and another request may already have moved past it).
   */
  failed(url: string, err: Error): void {
    if (this.current !== url || this.urls.length < 2) return;
    this.#current = (this.#current + 1) % this.urls.length;
    this.#o.onFailover?.(url, this.current, err);
  }

  /**
   * Calls `attempt` with a server's base URL until it resolves: a server failure moves on to the next server
   * (every server once a round, a growing wait between rounds), any other error is thrown at once, and so is a
   * server failure that `repeat` says must not be sent again.
   */
  async run<T>(repeat: Repeat, attempt: (server: string) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const n = this.urls.length;
    if (n === 1) return attempt(this.current);
    const rounds = this.#o.rounds ?? 2;
    return retry(
      async () => {
        // One round: each server once, starting from the current one; the backoff comes between rounds.
        let last: Error | undefined;
        for (let i = 0; i < n; i++) {
          signal?.throwIfAborted();
          const server = this.current;
          try {
            return await attempt(server);
          } catch (err) {
            if (!isServerFailure(err)) throw new Final(err as Error);
            if (repeat === "unsent-only" && !wasNotSent(err)) throw new Final(err as Error);
            this.failed(server, err as Error);
            last = err as Error;
          }
        }
        throw last ?? new Error("no server tried");
      },
      {
        attempts: rounds,
        firstDelayMs: this.#o.roundDelayMs ?? 500,
        maxDelayMs: 10_000,
        shouldRetry: (err) => !(err instanceof Final),
        ...(signal ? { signal } : {}),
      },
    ).catch((err: unknown) => {
      throw err instanceof Final ? err.error : err;
    });
  }
}

/** An error that ends `run` at once, carried through the retry unchanged. */
class Final extends Error {
  constructor(readonly error: Error) {
    super(error.message);
  }
}
