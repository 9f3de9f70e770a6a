// The agent's only view of the server: the Storehouse's HTTP cache (/cache), with bounded waits, the next server
// of its list (lib/api/servers.ts) when one is away, and a reconnect loop with backoff when all are. It never throws "missing" for a server that is away: callers tell ENOENT
// (a 404 narinfo) from EIO (anything else) by the error class.
import type { Readable } from "node:stream";
import { ApiError, ApiUnreachableError } from "../lib/api/errors.js";
import { ServerList } from "../lib/api/servers.js";
import { type NarListing, parseNarListing } from "../lib/nar-listing.js";
import { type NarInfo, parseNarInfo } from "../lib/narinfo.js";
import { Backoff } from "../lib/retry.js";
import {
  LISTING_SIGNATURE_HEADER,
  listingFingerprint,
  verifyNarInfo,
  verifySignature,
} from "../lib/signature.js";
import { parseStorePath } from "../lib/store-path.js";
import { type StreamAnswer, streamGet } from "./stream-get.js";

/** The server could not be asked (refused, timed out, 5xx): an EIO, never a cached miss. */
export class ServerUnavailableError extends Error {
  override name = "ServerUnavailableError";
}

/** The server answered, but with something the agent refuses (bad signature, wrong path, bad narinfo). */
export class UntrustedPathError extends Error {
  override name = "UntrustedPathError";
}

export interface RemoteOptions {
  /** The server's base URL, e.g. http://127.0.0.1:8080 (the cache is at /cache). */
  server: string;
  token?: string;
  /** Longest wait for an answer (headers) or between two chunks of a NAR; default 10 s. */
  requestTimeoutMs?: number;
  /** Reconnect probe interval bounds while the server is away (default 250 ms doubling to 10 s). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
}

export interface RemoteCounters {
  narinfoRequests: number;
  listingRequests: number;
  narRequests: number;
  /** Single files fetched by Range from an uncompressed NAR. */
  rangeRequests: number;
  bytesFetched: number;
}

export class CacheRemote {
  /** Which cache this is, for what the agent keeps about it: every server's /cache URL, comma-separated. */
  readonly fleet: string;
  readonly #servers: ServerList;
  readonly counters: RemoteCounters = {
    narinfoRequests: 0,
    listingRequests: 0,
    narRequests: 0,
    rangeRequests: 0,
    bytesFetched: 0,
  };
  #publicKey: string | undefined;
  #token: string | undefined;
  #timeout: number;
  #backoffMin: number;
  #backoffMax: number;
  /** While the server is away: requests fail at once until a probe gets through. */
  #down = false;
  #probe: NodeJS.Timeout | undefined;
  #closed = false;
  /** Aborted by close(): a fetch in flight (or a NAR streaming) ends at once instead of at its timeout. */
  #closing = new AbortController();

  constructor(opts: RemoteOptions) {
    // Each server once per request: the reconnect loop below does the waiting when every one failed.
    this.#servers = new ServerList(opts.server, { rounds: 1 });
    this.fleet = this.#servers.urls.map((u) => `${u}/cache`).join(",");
    this.#token = opts.token;
    this.#timeout = opts.requestTimeoutMs ?? 10_000;
    this.#backoffMin = opts.backoffMinMs ?? 250;
    this.#backoffMax = opts.backoffMaxMs ?? 10_000;
  }

  /** The cache of the server asked next. */
  get cacheUrl(): string {
    return `${this.#servers.current}/cache`;
  }

  get online(): boolean {
    return !this.#down;
  }

  get publicKey(): string {
    if (!this.#publicKey) throw new Error("CacheRemote.start() was not called");
    return this.#publicKey;
  }

  /** Fetches the server's signing key (kept for the agent's lifetime) and checks nix-cache-info. */
  async start(knownKey?: string): Promise<void> {
    try {
      const res = await this.#get("/public-key");
      if (res.status !== 200)
        throw new ServerUnavailableError(`GET ${this.cacheUrl}/public-key: ${res.status}`);
      this.#publicKey = (await res.text()).trim();
    } catch (err) {
      // A restarted agent keeps serving its cache with the key it saved before, and reconnects later.
      if (!knownKey || !(err instanceof ServerUnavailableError)) throw err;
      this.#publicKey = knownKey;
      this.#markDown();
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#probe) clearTimeout(this.#probe);
    this.#closing.abort(new ServerUnavailableError("the agent is stopping"));
  }

  /** The verified narinfo of `hash`, or undefined when the Storehouse does not have it (a 404). */
  async narInfo(hash: string): Promise<NarInfo | undefined> {
    this.counters.narinfoRequests++;
    const res = await this.#get(`/${hash}.narinfo`);
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel();
      return undefined;
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new ServerUnavailableError(`GET ${hash}.narinfo: HTTP ${res.status}`);
    }
    const text = await this.#withTimeout(res.text());
    let info: NarInfo;
    try {
      info = parseNarInfo(text);
    } catch (err) {
      throw new UntrustedPathError(`${hash}.narinfo: ${(err as Error).message}`);
    }
    if (!info.storePath.startsWith(`/nix/store/${hash}-`)) {
      throw new UntrustedPathError(`${hash}.narinfo names another path: ${info.storePath}`);
    }
    if (!verifyNarInfo(info, [this.publicKey])) {
      throw new UntrustedPathError(`${info.storePath}: no valid signature by the server's key`);
    }
    return info;
  }

  /**
   * The listing of `info`'s path, checked against the server's signature over it and the NAR hash;
   * undefined when the server has no signed listing (a path stored before listings were signed).
   */
  async listing(info: NarInfo): Promise<NarListing | undefined> {
    this.counters.listingRequests++;
    const { hash } = parseStorePath(info.storePath);
    const res = await this.#get(`/${hash}.ls`);
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel();
      return undefined;
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new ServerUnavailableError(`GET ${hash}.ls: HTTP ${res.status}`);
    }
    const sig = res.headers.get(LISTING_SIGNATURE_HEADER);
    const body = Buffer.from(await this.#withTimeout(res.arrayBuffer()));
    if (!sig) return undefined;
    const fp = listingFingerprint(info.storePath, info.narHash, body);
    if (!verifySignature([this.publicKey], fp, sig)) {
      throw new UntrustedPathError(
        `${info.storePath}: its listing has no valid signature by the server's key`,
      );
    }
    try {
      return parseNarListing(body.toString("utf8"), info.narSize);
    } catch (err) {
      throw new UntrustedPathError(`${info.storePath}: its listing is refused: ${(err as Error).message}`);
    }
  }

  /**
   * The NAR file of `info` (still compressed), as a stream that fails when no byte arrives for the
   * request timeout: a server that goes away mid-download gives an EIO in bounded time.
   */
  async nar(info: NarInfo): Promise<Readable> {
    this.counters.narRequests++;
    const res = await this.#getStream(this.#narUrl(info));
    if (res.status !== 200) {
      res.body.destroy();
      throw new ServerUnavailableError(`GET ${info.url}: HTTP ${res.status}`);
    }
    return this.#watched(res.body, info.url);
  }

  /** Bytes `start` to `start + length - 1` of an uncompressed NAR (one file's contents), by Range. */
  async narRange(info: NarInfo, start: number, length: number): Promise<Readable> {
    if (info.compression !== "none") throw new Error(`${info.url} is compressed: no ranges`);
    this.counters.rangeRequests++;
    const end = start + length - 1;
    const res = await this.#getStream(this.#narUrl(info), { range: `bytes=${start}-${end}` });
    const got = /^bytes (\d+)-(\d+)\//.exec(res.header("content-range") ?? "");
    if (res.status !== 206 || Number(got?.[1]) !== start || Number(got?.[2]) !== end) {
      res.body.destroy();
      throw new ServerUnavailableError(
        `GET ${info.url} bytes ${start}-${end}: HTTP ${res.status} ${res.header("content-range") ?? ""}`,
      );
    }
    return this.#watched(res.body, info.url);
  }

  #narUrl(info: NarInfo): string {
    return /^https?:\/\//.test(info.url) ? info.url : `/${info.url}`;
  }

  #watched(body: Readable, what: string): Readable {
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(
        () => body.destroy(new ServerUnavailableError(`${what}: no data for ${this.#timeout} ms`)),
        this.#timeout,
      ).unref();
    };
    arm();
    body.on("data", (chunk: Buffer) => {
      this.counters.bytesFetched += chunk.length;
      idle?.refresh();
    });
    // Paused by its reader (the unpacking is behind): the server is not the one keeping us waiting.
    body.on("pause", () => clearTimeout(idle));
    body.on("resume", arm);
    body.once("close", () => {
      body.off("resume", arm);
      clearTimeout(idle);
    });
    return body;
  }

  /** A GET that must answer (headers and body) within the request timeout: narinfos, listings, the key. */
  #get(path: string): Promise<Response> {
    return this.#ask(
      path,
      {},
      async (url, headers, signal) => {
        const res = await fetch(url, { headers, signal });
        return { status: res.status, res };
      },
      false,
      (a) => void a.res.body?.cancel(),
    ).then((a) => a.res);
  }

  /** A GET whose headers must come within the request timeout; its body #watched() guards, however long it is. */
  #getStream(path: string, extra: Record<string, string> = {}): Promise<StreamAnswer> {
    return this.#ask(path, extra, streamGet, true, (a) => a.body.destroy());
  }

  /**
   * One request on the server asked next, the next server on a refused connection or (with several) a 5xx; an
   * absolute URL (a presigned object-store URL) is one place. Every failure marks the server away.
   */
  async #ask<T extends { status: number }>(
    path: string,
    extra: Record<string, string>,
    send: (url: string, headers: Record<string, string>, signal: AbortSignal) => Promise<T>,
    stream: boolean,
    discard: (answer: T) => void,
  ): Promise<T> {
    if (this.#closed) throw new ServerUnavailableError("the agent is stopping");
    if (this.#down) throw new ServerUnavailableError(`the server at ${this.cacheUrl} is away (reconnecting)`);
    try {
      if (/^https?:\/\//.test(path)) return await this.#once(path, extra, send, stream);
      return await this.#servers.run("idempotent", async (server) => {
        const answer = await this.#once(`${server}/cache${path}`, extra, send, stream);
        if (answer.status >= 500 && this.#servers.urls.length > 1) {
          discard(answer);
          throw new ApiError(
            answer.status,
            "http_error",
            `GET ${server}/cache${path}: HTTP ${answer.status}`,
            path,
          );
        }
        return answer;
      });
    } catch (err) {
      this.#markDown();
      throw err instanceof ServerUnavailableError ? err : new ServerUnavailableError((err as Error).message);
    }
  }

  /** One GET of `url`; a network failure is an ApiUnreachableError, so that the server list moves on. */
  async #once<T extends { status: number }>(
    url: string,
    extra: Record<string, string>,
    send: (url: string, headers: Record<string, string>, signal: AbortSignal) => Promise<T>,
    stream: boolean,
  ): Promise<T> {
    const headers: Record<string, string> = { ...extra };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error(`no answer within ${this.#timeout} ms`)),
      this.#timeout,
    ).unref();
    try {
      const signal = AbortSignal.any([deadline.signal, this.#closing.signal]);
      const answer = await send(url, headers, signal);
      if (stream) clearTimeout(timer);
      if (answer.status >= 500 && this.#servers.urls.length === 1) this.#markDown();
      return answer;
    } catch (err) {
      clearTimeout(timer);
      if (this.#closed) throw new ServerUnavailableError("the agent is stopping");
      throw new ApiUnreachableError(new URL(url).origin, `GET ${url}: ${(err as Error).message}`);
    }
  }

  async #withTimeout<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      this.#markDown();
      throw new ServerUnavailableError((err as Error).message);
    }
  }

  #markDown(): void {
    if (this.#down || this.#closed) return;
    this.#down = true;
    const backoff = new Backoff({ firstMs: this.#backoffMin, maxMs: this.#backoffMax });
    const probe = async () => {
      const server = this.#servers.current;
      try {
        const res = await fetch(`${server}/cache/nix-cache-info`, {
          signal: AbortSignal.any([AbortSignal.timeout(this.#timeout), this.#closing.signal]),
        });
        await res.body?.cancel();
        if (res.status < 500) {
          this.#down = false;
          return;
        }
      } catch {}
      if (this.#closed) return;
      // The next probe asks the next server of the list.
      this.#servers.failed(server, new Error("probe failed"));
      this.#probe = setTimeout(probe, backoff.next()).unref();
    };
    this.#probe = setTimeout(probe, backoff.next()).unref();
  }
}
