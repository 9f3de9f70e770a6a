// `GET /nix-daemon` with `Upgrade: nix-daemon`: one relayed daemon connection. The token is checked before a
// single daemon byte; then a forwarder runs as the org's uid and the bytes flow both ways untouched. Each
// connection is a session in the org's activity log; when its client hangs up, the builds it asked for that
// nothing else wants are cancelled (a connection ended from the daemon's side keeps them going).
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { HOST_HEADER, NIX_DAEMON_PATH, NIX_DAEMON_PROTOCOL } from "../../lib/api/relay.js";
import { withdrawSessionWants } from "../builds/wants.js";
import type { Db } from "../db/open.js";
import { errorBody, internalError, toHttpError } from "../http/errors.js";
import { actorOf } from "../orgs/tokens.js";
import { authorizeRelay, type RelayGrant } from "./access.js";
import type { DaemonPaths } from "./daemon-files.js";
import { relayUid, startForwarder } from "./forwarder.js";
import { endSession, openSession, type SessionEnd } from "./sessions.js";

export interface RelayOptions {
  db: Db;
  logger: Logger;
  paths: DaemonPaths;
  uidBase: number;
  /** Connections one token may hold at once; more are answered 429. */
  maxPerToken: number;
  nixBinDir?: string | undefined;
  /** The chosen Nix has `nix-daemon --force-untrusted` (forwarder.ts says why it is passed). */
  forceUntrusted: boolean;
  /** This server's run (ServerLocks.runId): its sessions are ended when it is gone. */
  serverRun: number;
}

interface Live {
  sessionId: number;
  end(reason: SessionEnd): void;
}

const statusText: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  426: "Upgrade Required",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify(errorBody(code, message));
  socket.end(
    `HTTP/1.1 ${status} ${statusText[status] ?? "Error"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Is this request for the relay (with or without an upgrade)? */
export function isRelayRequest(req: IncomingMessage): boolean {
  const path = (req.url ?? "").split("?")[0];
  return path === NIX_DAEMON_PATH;
}

export class DaemonRelay {
  /** Forwarder pid → its connection: how the build hook's request is tied to who asked. */
  readonly #byForwarder = new Map<number, Live>();
  readonly #perToken = new Map<number, number>();
  #closing = false;

  constructor(private readonly o: RelayOptions) {}

  #authorize(req: IncomingMessage): Promise<RelayGrant> {
    const url = new URL(req.url ?? "/", "http://relay");
    return authorizeRelay(this.o.db, req.headers.authorization, url.searchParams.get("org"));
  }

  /** A plain GET (no upgrade): the token is checked as for a connection, then 426. `flox daemon` probes with it. */
  async answerPlain(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let status = 426;
    let body = errorBody(
      "upgrade_required",
      `this is the shared Nix daemon; connect with \`Upgrade: ${NIX_DAEMON_PROTOCOL}\` (flox daemon --socket PATH does)`,
    );
    try {
      await this.#authorize(req);
    } catch (err) {
      const known = toHttpError(err);
      if (!known) this.o.logger.error({ err }, "relay probe failed");
      ({ status, body } = known ?? internalError());
    }
    res.writeHead(status, { "content-type": "application/json", upgrade: NIX_DAEMON_PROTOCOL });
    res.end(JSON.stringify(body));
  }

  /** The session of the connection served by daemon process `daemonPid` (the build hook's parent), if any. */
  async sessionOfDaemonPid(daemonPid: number): Promise<number | undefined> {
    // nix-daemon writes its client's pid over its argv[1] in the process serving it (Nix's daemon.cc, "for
    // debugging"): cmdline's second field when nix-daemon runs directly, a later one behind a loader (this repo's
    // 2.26 prefix runs `ld-linux … libexec/nix --daemon`). Either way it is the only field of digits.
    const cmdline = await readFile(`/proc/${daemonPid}/cmdline`, "utf8").catch(() => "");
    const pids = cmdline.split("\0").filter((f) => /^\d+$/.test(f));
    return pids.length === 1 ? this.#byForwarder.get(Number(pids[0]))?.sessionId : undefined;
  }

  get connections(): number {
    return this.#byForwarder.size;
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    void this.#upgrade(req, socket, head).catch((err) => {
      this.o.logger.error({ err }, "relay connection failed");
      socket.destroy();
    });
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on("error", () => undefined);
    if ((req.headers.upgrade ?? "").toLowerCase() !== NIX_DAEMON_PROTOCOL) {
      refuse(socket, 400, "bad_upgrade", `only \`Upgrade: ${NIX_DAEMON_PROTOCOL}\` is served here`);
      return;
    }
    if (this.#closing) {
      refuse(socket, 503, "shutting_down", "the flox server is shutting down; try again in a moment");
      return;
    }
    let grant: RelayGrant;
    try {
      grant = await this.#authorize(req);
    } catch (err) {
      const known = toHttpError(err);
      if (!known) this.o.logger.error({ err }, "relay authorization failed");
      const { status, body } = known ?? internalError();
      refuse(socket, status, body.error.code, body.error.message);
      return;
    }
    const { token, org } = grant;
    const held = this.#perToken.get(token.id) ?? 0;
    if (held >= this.o.maxPerToken) {
      refuse(
        socket,
        429,
        "too_many_connections",
        `this token holds ${held} daemon connections already, the most one token may; close some and try again`,
      );
      return;
    }
    this.#perToken.set(token.id, held + 1);
    const host = String(req.headers[HOST_HEADER] ?? "").slice(0, 255) || null;
    const sessionId = await openSession(this.o.db, {
      orgId: org.id,
      tokenId: token.id,
      actor: actorOf(token),
      host,
      remoteAddress: req.socket.remoteAddress ?? null,
      serverRun: this.o.serverRun,
    });
    const log = this.o.logger.child({ relaySession: sessionId, org: org.name, actor: actorOf(token), host });
    const fwd = await startForwarder({
      paths: this.o.paths,
      uid: relayUid(org.id, this.o.uidBase),
      nixBinDir: this.o.nixBinDir,
      forceUntrusted: this.o.forceUntrusted,
      onStderr: (line) => log.warn({ line }, "daemon forwarder said"),
    });
    let ended = false;
    const end = (reason: SessionEnd) => {
      if (ended) return;
      ended = true;
      if (fwd.child.pid) this.#byForwarder.delete(fwd.child.pid);
      this.#perToken.set(token.id, (this.#perToken.get(token.id) ?? 1) - 1);
      fwd.toDaemon.destroy();
      fwd.fromDaemon.destroy();
      // From the daemon's side: what it said last (an error) has been piped on; let it reach the client.
      if (reason === "daemon") socket.end();
      else socket.destroy();
      if (fwd.child.exitCode === null) fwd.child.kill("SIGKILL");
      void (async () => {
        await endSession(this.o.db, sessionId, reason);
        const cancelled = reason === "client" ? await withdrawSessionWants(this.o.db, sessionId) : [];
        log.info({ reason, cancelled }, "relayed daemon connection ended");
      })().catch((err) => log.error({ err }, "ending a relay session failed"));
    };
    if (fwd.child.pid) this.#byForwarder.set(fwd.child.pid, { sessionId, end });
    fwd.fromDaemon.once("close", () => end("daemon"));
    fwd.child.once("error", (err) => {
      log.error({ err }, "the daemon forwarder could not be started");
      end("daemon");
    });
    // The client's FIN (or reset) ends it as the client's doing, before the forwarder sees its stdin close.
    socket.once("end", () => end("client"));
    socket.once("close", () => end("client"));
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${NIX_DAEMON_PROTOCOL}\r\nconnection: Upgrade\r\n\r\n`,
    );
    if (head.length > 0) fwd.toDaemon.write(head);
    socket.pipe(fwd.toDaemon);
    fwd.fromDaemon.pipe(socket);
    log.info({ forwarder: fwd.child.pid }, "relayed daemon connection opened");
  }

  /** Shutdown: no new connections; open ones end (their builds stay wanted, the clients will be back). */
  close(): void {
    this.#closing = true;
    for (const live of [...this.#byForwarder.values()]) live.end("server");
  }
}
