// The client side of the shared Nix daemon: a local unix socket whose every connection is relayed to the server's
// `GET /nix-daemon` (HTTP Upgrade) with a token. Used by `flox daemon` and `flox agent --daemon-socket`.
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer, type Server, type Socket } from "node:net";
import { hostname } from "node:os";
import type { Duplex } from "node:stream";
import { Backoff } from "../retry.js";
import { ApiUnreachableError, describeErrorAnswer } from "./errors.js";
import { HOST_HEADER, NIX_DAEMON_PATH, NIX_DAEMON_PROTOCOL } from "./relay.js";

/** The server refused the token (or the org): retrying will not help. */
export class RelayRefusedError extends Error {
  override name = "RelayRefusedError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface RelayTarget {
  /** Base URL of the server, without a trailing slash. */
  server: string;
  token: string;
  /** The org the builds are for; the server's default (the token's own org, the user's only org) when absent. */
  org?: string | undefined;
}

function relayUrl(t: RelayTarget): URL {
  const url = new URL(`${t.server}${NIX_DAEMON_PATH}`);
  if (t.org) url.searchParams.set("org", t.org);
  return url;
}

async function bodyOf(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** One upgraded connection to the server's daemon, or RelayRefusedError / ApiUnreachableError. */
export function openRelay(t: RelayTarget, timeoutMs = 10_000): Promise<Duplex> {
  const url = relayUrl(t);
  const request = url.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: "GET",
      headers: {
        connection: "Upgrade",
        upgrade: NIX_DAEMON_PROTOCOL,
        authorization: `Bearer ${t.token}`,
        [HOST_HEADER]: hostname(),
      },
      timeout: timeoutMs,
    });
    req.once("upgrade", (_res, socket, head) => {
      socket.setTimeout(0);
      socket.setKeepAlive(true, 30_000);
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.once("response", (res) => {
      void bodyOf(res).then((text) => {
        const message = describeErrorAnswer(res.statusCode ?? 0, text);
        const status = res.statusCode ?? 0;
        reject(
          status >= 400 && status < 500 && status !== 429
            ? new RelayRefusedError(status, message)
            : new ApiUnreachableError(t.server, message),
        );
      }, reject);
    });
    req.once("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs / 1000}s`)));
    req.once("error", (err: NodeJS.ErrnoException) =>
      reject(new ApiUnreachableError(t.server, err.code ?? err.message)),
    );
    req.end();
  });
}

/** Checks the token without opening a daemon connection (the server answers 426 to a token it accepts). */
export async function probeRelay(t: RelayTarget, timeoutMs = 10_000): Promise<void> {
  let res: Response;
  try {
    res = await fetch(relayUrl(t), {
      headers: { authorization: `Bearer ${t.token}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new ApiUnreachableError(t.server, (err as Error).message);
  }
  const text = await res.text();
  if (res.status === 426) return;
  const message = describeErrorAnswer(res.status, text);
  if (res.status === 404 && !text.includes('"error"')) {
    throw new RelayRefusedError(
      404,
      `${t.server} serves no shared Nix daemon (its server runs with --no-nix-daemon, or is older)`,
    );
  }
  if (res.status >= 400 && res.status < 500) throw new RelayRefusedError(res.status, message);
  throw new ApiUnreachableError(t.server, message);
}

export interface RelaySocketOptions extends RelayTarget {
  socketPath: string;
  /** How long a local connection waits for the server while it is away, before it is closed (default 60 s). */
  reconnectForMs?: number;
  /** One line per event worth telling (refusals, a server away). */
  say?: (line: string) => void;
  /** A refused token: the relay stops serving (it would refuse every connection). */
  onRefused?: (err: RelayRefusedError) => void;
}

/** Relays one local connection; while the server is away, tries again until `reconnectForMs` passes. */
async function relayOne(local: Socket, o: RelaySocketOptions): Promise<void> {
  local.pause();
  local.on("error", () => undefined);
  const until = Date.now() + (o.reconnectForMs ?? 60_000);
  const backoff = new Backoff({ firstMs: 200, maxMs: 3000, jitter: true });
  let told = false;
  for (;;) {
    if (local.destroyed) return;
    try {
      const remote = await openRelay(o);
      remote.on("error", () => local.destroy());
      local.on("close", () => remote.destroy());
      remote.on("close", () => local.destroy());
      local.pipe(remote);
      remote.pipe(local);
      local.resume();
      if (told) o.say?.(`flox daemon: ${o.server} is back; relaying`);
      return;
    } catch (err) {
      if (err instanceof RelayRefusedError) {
        o.say?.(`flox daemon: ${o.server} refused the daemon connection: ${err.message}`);
        local.destroy();
        o.onRefused?.(err);
        return;
      }
      if (Date.now() >= until) {
        o.say?.(
          `flox daemon: ${o.server} is unreachable (${(err as Error).message}); gave up on a connection`,
        );
        local.destroy();
        return;
      }
      if (!told) o.say?.(`flox daemon: ${o.server} is unreachable (${(err as Error).message}); retrying`);
      told = true;
      await new Promise((r) => setTimeout(r, backoff.next()));
    }
  }
}

/** Serves `socketPath` (mode 0600: only this user's Nix may use this token) until closed. */
export async function serveRelaySocket(o: RelaySocketOptions): Promise<Server> {
  const { rm, chmod } = await import("node:fs/promises");
  await rm(o.socketPath, { force: true });
  const server = createServer((local) => void relayOne(local, o));
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(o.socketPath, () => {
      server.off("error", fail);
      ok();
    });
  });
  await chmod(o.socketPath, 0o600);
  return server;
}
