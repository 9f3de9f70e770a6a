// Serves /<org>/nixexprs.git over smart HTTP: our checks first, then git runs (pushes through node-git-server,
// fetches through upload-pack.ts, which speaks protocol v2).
import type { ChildProcess } from "node:child_process";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Git } from "node-git-server";
import type { Logger } from "pino";
import type { Db } from "../db/open.js";
import { LOCK, type ServerLocks } from "../db/server-locks.js";
import { DatabaseDownError, isDatabaseDown } from "../db/unavailable.js";
import { findOrg } from "../orgs/orgs.js";
import { repoDir } from "../paths.js";
import { authenticateGit, authorizeGit } from "./git-auth.js";
import { classifyGitUrl, type GitRoute } from "./git-url.js";
import { KeyedMutex } from "./keyed-mutex.js";
import { plainAnswer as plain } from "./plain-answer.js";
import { type ReceiveContext, Receives } from "./receive-context.js";
import { ReceivePackRun } from "./receive-pack-run.js";
import { requestStandIn } from "./request-stand-in.js";
import { failBeforeFinalFlush } from "./sideband.js";
import { advertiseUploadPack, serveUploadPack } from "./upload-pack.js";

export interface GitHandlerOptions {
  db: Db;
  reposDir: string;
  logger: Logger;
  /** How long git may take to start after the first chunk of a request body (see `watchStart`). */
  startTimeoutMs?: number;
  /** Where receive-pack requests are registered for the hooks' internal routes (`-o wait`); default: a private one. */
  receives?: Receives;
  /** Several servers on one PostgreSQL: the per-repo push lock across them. */
  locks?: ServerLocks | undefined;
}

/** Returns false when the request is not for git, so the caller can hand it to the API. */
export type GitRequestHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export function createGitHandler(opts: GitHandlerOptions): GitRequestHandler {
  const { db, logger } = opts;
  const receiveLock = new KeyedMutex();
  const receives = opts.receives ?? new Receives();
  const receiving = new WeakMap<IncomingMessage, ReceiveContext>();
  const startTimeoutMs = opts.startTimeoutMs ?? 3_000;
  // We authorise before node-git-server sees a request and never let it create repos.
  const git = new Git(opts.reposDir, { autoCreate: false });
  const started = new WeakSet<IncomingMessage>();
  /** What node-git-server was given for each request (keyed by its stand-in request). */
  const requests = new WeakMap<
    IncomingMessage,
    { req: IncomingMessage; res: ServerResponse; discardRest(): void; run?: ReceivePackRun }
  >();
  const accept = (action: {
    req: IncomingMessage;
    accept(): void;
    on(event: "error", listener: (err: Error) => void): unknown;
    once(event: "service", listener: (ps: ChildProcess) => void): unknown;
  }) => {
    const request = requests.get(action.req);
    const receive = receiving.get(action.req);
    // One event per ref of a push; git starts once, after the first accept.
    if (request && !started.has(action.req)) {
      // node-git-server passes on the errors of the response and of starting git, here and nowhere else.
      action.on("error", (err) => {
        logger.warn({ err, url: request.req.url }, "git request failed");
        if (request.run) request.run.fail("the server could not run git receive-pack; see its log");
        else if (!request.res.headersSent)
          plain(request.res, 500, "the server could not run git; see its log");
        else request.res.destroy();
      });
      action.once("service", (ps) => {
        request.run = new ReceivePackRun(ps, request.req, request.res, logger, request.discardRest);
        if (receive) receive.pid = ps.pid ?? null;
      });
    }
    started.add(action.req);
    action.accept();
  };
  // node-git-server waits for exactly one accept() per request; without listeners it would accept by itself,
  // but being explicit keeps a future listener from silently taking over the decision.
  for (const event of ["push", "tag", "fetch", "info", "head"] as const) git.on(event, accept);
  git.on("error", (err: Error) => logger.error({ err }, "git service failed"));

  /**
   * node-git-server decides to start git from the first chunk of the body alone; a body it does not recognise
   * (a ref outside refs/heads and refs/tags, say) would leave the request hanging forever.
   */
  function watchStart(req: IncomingMessage, res: ServerResponse, org: string): void {
    // Called after git.handle() has piped the body, so this listener does not change how the body flows.
    req.once("data", () => {
      const timer = setTimeout(() => {
        if (started.has(req) || res.writableEnded) return;
        logger.warn({ org, url: req.url }, "git request not understood; closed");
        if (!res.headersSent) {
          // Read what is left of the body, which nothing else will: the connection is kept alive.
          requests.get(req)?.discardRest();
          plain(
            res,
            400,
            "flox could not read this git request; only refs/heads/* and refs/tags/* can be pushed",
          );
        } else res.destroy();
      }, startTimeoutMs);
      timer.unref();
      res.once("close", () => clearTimeout(timer));
    });
  }

  /** node-git-server gets a stand-in for `req` (see request-stand-in.ts); the response is guarded here. */
  function handOver(req: IncomingMessage, res: ServerResponse): IncomingMessage {
    const { request, discardRest } = requestStandIn(req, (err) =>
      logger.info({ err: err.message, url: req.url }, "git client went away"),
    );
    requests.set(request, { req, res, discardRest });
    // Writing to a response that already failed: node-git-server's pipes would rethrow it otherwise.
    res.on("error", (err) => logger.warn({ err: err.message, url: req.url }, "git response failed"));
    return request;
  }

  return (req, res) => {
    const route = classifyGitUrl(req.method ?? "GET", req.url ?? "/");
    if (route.kind === "not-git") return false;
    const begun = Date.now();
    res.once("close", () =>
      logger.info(
        { method: req.method, url: req.url, status: res.statusCode, ms: Date.now() - begun },
        "git request",
      ),
    );
    if (route.kind === "refuse") {
      plain(res, route.status, route.message);
      return true;
    }
    const deny = (status: number, message: string) => {
      const challenge: Record<string, string> =
        status === 401 ? { "www-authenticate": 'Basic realm="flox"' } : {};
      plain(res, status, message, challenge);
      return true;
    };
    // Whether it is git is known now; who may do what takes the database, so it answers a moment later.
    void serve(route, req, res, deny).catch((err: unknown) => {
      logger.error({ err, url: req.url }, "git request failed");
      if (res.headersSent) res.destroy();
      else if (isDatabaseDown(err)) plain(res, 503, `${new DatabaseDownError().message}\n`);
      else
        plain(
          res,
          500,
          "the flox server failed on this git request; its log (DATA_DIR/logs/server.log) says why\n",
        );
    });
    return true;
  };

  async function serve(
    route: Extract<GitRoute, { kind: "git" }>,
    req: IncomingMessage,
    res: ServerResponse,
    deny: (status: number, message: string) => boolean,
  ): Promise<boolean> {
    const token = await authenticateGit(db, req.headers.authorization);
    if (!token.ok) return deny(token.status, token.message);
    const org = await findOrg(db, route.org);
    const noOrg = () =>
      deny(404, `there is no org "${route.org}" on this server; check the URL (\`flox org list\`)`);
    if (!org) return noOrg();
    const allowed = await authorizeGit(db, token.value, org, route.access);
    // No role in a private org: the same answer as no org, so that a token cannot probe which orgs exist.
    if (!allowed.ok) return allowed.status === 404 ? noOrg() : deny(allowed.status, allowed.message);
    if (route.access === "fetch" && route.service !== "head") {
      const repo = repoDir(opts.reposDir, org.name);
      if (route.service === "info-refs") advertiseUploadPack(repo, req, res, logger);
      else serveUploadPack(repo, req, res, logger);
    } else if (route.service === "receive-pack") {
      // Pushes to one repo run one after another, so a pre-receive hook always sees the refs as they are now.
      // A `-o wait` push gives the lock up while it waits for builds (POST /internal/receives/waiting).
      // Several servers on one PostgreSQL: a lock per repo there too, so two servers never receive into it at once.
      void receiveLock.acquire(org.name).then(async (releaseHere) => {
        let releaseShared: (() => Promise<void>) | undefined;
        try {
          releaseShared = await opts.locks?.hold(LOCK.push(org.id));
        } catch (err) {
          releaseHere();
          logger.error({ err, org: org.name }, "could not take the repo's push lock in the database");
          return deny(503, "the database is unavailable; try the push again in a moment");
        }
        const release = () => {
          releaseHere();
          releaseShared?.().catch(() => undefined);
        };
        const receive = receives.open(org.name, release);
        res.once("close", () => receives.close(receive));
        if (res.destroyed || req.destroyed) return receives.close(receive);
        const standIn = handOver(req, res);
        receiving.set(standIn, receive);
        failBeforeFinalFlush(res, () => receive.failure);
        git.handle(standIn, res);
        // node-git-server asks for the connection to close after the answer. An answer that comes before the body
        // ends (git refused the pack, or died) would then cut off a client still sending, often before it read
        // the answer; kept alive, the rest of the body is read into nothing (ReceivePackRun) and the answer arrives.
        res.removeHeader("connection");
        watchStart(standIn, res, org.name);
      });
    } else {
      git.handle(handOver(req, res), res);
    }
    return true;
  }
}
