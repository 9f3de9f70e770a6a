// `flox server`: sets up the data directory, then serves git, the API and (later) the Storehouse on one port.

import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { resolve } from "node:path";
import type { Duplex } from "node:stream";
import { getRequestListener } from "@hono/node-server";
import pino, { type Logger } from "pino";
import { BusyboxMissingError, ensureBusyboxDir } from "../lib/busybox-dir.js";
import { NixNotFoundError, NixTooOldError, useNix } from "../lib/nix-install.js";
import { createApp } from "./app.js";
import { BuildLogs } from "./builds/build-log.js";
import { moveLegacyLogs } from "./builds/legacy-logs.js";
import { publishDrvClosure } from "./builds/publish-drvs.js";
import { startLeaseSweeper } from "./builds/sweeper.js";
import { ChannelPublisher } from "./channels/channels.js";
import {
  optionsFromFlags,
  resolveSettings,
  type ServerCommandOptions,
  type StartServerOptions,
} from "./config.js";
import { openDatabase } from "./db/open.js";
import { LOCK } from "./db/server-locks.js";
import { DatabaseOpenError } from "./db/unavailable.js";
import { hasNoRoom, isDiskFull } from "./disk-full.js";
import { ConflictError, DiskFullError, InvalidInputError, StorageUnavailableError } from "./errors.js";
import { Evaluator } from "./evaluations/evaluator.js";
import { createRepo, refreshRepo } from "./git/create-repo.js";
import { GateResults } from "./git/gate-results.js";
import { createGitHandler } from "./git/git-handler.js";
import { Receives } from "./git/receive-context.js";
import { killChildren } from "./kill-children.js";
import { localUrl, parseListen, urlOf } from "./listen-address.js";
import { MachineHub } from "./machines/hub.js";
import { isRelayRequest } from "./nix-daemon/relay.js";
import { prepareNixDaemon } from "./nix-daemon/start.js";
import { listOrgs } from "./orgs/orgs.js";
import { ensureAdminToken } from "./orgs/tokens.js";
import { dataPaths, repoDir } from "./paths.js";
import { ProfileEditor } from "./profiles/editor.js";
import { ProfileScheduler } from "./profiles/schedules.js";
import { startPushCatchUp } from "./pushes/catch-up.js";
import { reconcilePushes } from "./pushes/reconcile.js";
import { nixSystem, writeRunFile } from "./run-file.js";
import { cacheFastPath } from "./storehouse/cache-fast-path.js";
import { fleetSigningKey } from "./storehouse/fleet-key.js";
import { QuotaGuard } from "./storehouse/gc/quota.js";
import { GcService } from "./storehouse/gc/service.js";
import { ensureSigningKey, loadSigningKey, SigningKeyError } from "./storehouse/keys.js";
import { StorehouseMaintenance } from "./storehouse/maintenance.js";
import { openObjectStore } from "./storehouse/objects/open.js";
import { ReadGrants } from "./storehouse/read-grants.js";
import { Storehouse } from "./storehouse/store.js";

export type { ServerCommandOptions, StartServerOptions } from "./config.js";

export interface RunningServer {
  /** `http://HOST:PORT` as bound (the port filled in when 0 was asked for). */
  url: string;
  dataDir: string;
  /** Set when no admin token existed and none was given: the secret of the one just made. Shown once. */
  generatedAdminToken?: string;
  logger: Logger;
  /** Stops accepting requests, waits up to `graceMs` for running ones (pushes!), then closes everything. */
  close(graceMs?: number): Promise<void>;
}

/** Lines kept in memory while the log cannot be written (a full disk); past this, new lines are dropped. */
const LOG_BACKLOG_BYTES = 4 * 1024 * 1024;

function openLog(file: string): Logger {
  // Synchronous writes: a crash must not lose the lines that explain it. The log is small next to git's work.
  const dest = pino.destination({ dest: file, mkdir: true, sync: true, maxLength: LOG_BACKLOG_BYTES });
  // A failed write (ENOSPC) is emitted as 'error': without a listener that throws out of whatever logged, an
  // evaluation or a request. The line stays buffered and goes out with the next write once there is room.
  let told = false;
  dest.on("error", (err: NodeJS.ErrnoException) => {
    if (told) return;
    told = true;
    process.stderr.write(
      `flox server: cannot write the log ${file} (${err.code ?? err.message}); going on without it\n`,
    );
    setTimeout(() => {
      told = false;
    }, 60_000).unref();
  });
  return pino({ base: { pid: process.pid } }, dest);
}

function checkBasePath(basePath: string | undefined): string | null {
  if (basePath === undefined) return null;
  const abs = resolve(basePath);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) {
    throw new InvalidInputError(`--base ${basePath}: no such directory; give the path of a nixpkgs checkout`);
  }
  return abs;
}

export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const address = parseListen(opts.listen);
  const basePath = checkBasePath(opts.basePath);
  const settings = resolveSettings(opts);
  const { maxFileSize, repoLimits, evalMemoryBytes } = settings;
  const paths = dataPaths(resolve(opts.dataDir), opts.reposDir ? resolve(opts.reposDir) : undefined);
  if (opts.reposDir) {
    // Repos shared by several servers: each repo's `flox.runFile` names whichever server refreshed it last, so the
    // git this server starts (and its hooks) is told this server's own run file; git's environment config wins.
    const n = Number(process.env.GIT_CONFIG_COUNT ?? 0);
    process.env[`GIT_CONFIG_KEY_${n}`] = "flox.runFile";
    process.env[`GIT_CONFIG_VALUE_${n}`] = paths.hooksRunFile;
    process.env.GIT_CONFIG_COUNT = String(n + 1);
  }
  // Before anything is written: a mistyped --nar-store must not leave a half-made data dir behind.
  const objects = openObjectStore(opts.narStore, paths.store);
  // A store that will never work stops the server here; one that is only away now is waited for by each request.
  let storeAway: unknown;
  await objects.check().catch((err: unknown) => {
    if (!(err instanceof StorageUnavailableError)) throw err;
    storeAway = err;
  });
  for (const dir of [paths.dataDir, paths.repos, paths.nixRoot, paths.logs, paths.store, paths.keys]) {
    await mkdir(dir, { recursive: true });
  }
  await mkdir(paths.run, { recursive: true, mode: 0o700 });
  await ensureBusyboxDir(paths.busybox);

  const logger = openLog(paths.serverLog);
  if (storeAway)
    logger.warn(
      { err: storeAway, store: objects.description },
      "the object store does not answer; serving anyway",
    );
  const databaseUrl = opts.database ?? `sqlite:${paths.db}`;
  let opened: Awaited<ReturnType<typeof openDatabase>>;
  try {
    opened = await openDatabase(databaseUrl, logger);
  } catch (err) {
    // A SQLite file that cannot be opened is the data dir's trouble (a full disk, say), told as before.
    if (err instanceof InvalidInputError || !databaseUrl.startsWith("postgres")) throw err;
    throw new DatabaseOpenError(databaseUrl, err);
  }
  const { db, signals, locks, close: closeDb } = opened;
  // Several servers on one PostgreSQL: one of them (the leader) runs the background work; the others serve.
  const leading = () => locks?.leading ?? true;
  logger.info({ database: opened.label }, "database opened");
  let server: Server | undefined;
  try {
    // One key for the servers sharing a PostgreSQL database (kept or recorded there); a lone server's own files.
    const signingKey =
      opened.dialect === "postgres"
        ? await fleetSigningKey(db, {
            keyFile: opts.signingKeyFile ? resolve(opts.signingKeyFile) : undefined,
            keysDir: paths.keys,
            serverSecret: opts.serverSecret,
          })
        : opts.signingKeyFile
          ? await loadSigningKey(resolve(opts.signingKeyFile))
          : await ensureSigningKey(paths.keys);
    const admin = await ensureAdminToken(db, opts.adminToken);
    if (admin.kind === "given" && opts.adminToken && opts.adminToken.length < 16) {
      logger.warn(
        "the admin token given is shorter than 16 characters; anyone who can guess it owns this server",
      );
    }

    // Hooks and settings point into this checkout and data dir; either may have moved since the last start.
    for (const org of await listOrgs(db)) {
      if (existsSync(repoDir(paths.repos, org.name))) await refreshRepo(paths, org.name);
      else {
        logger.error({ org: org.name }, "org repo missing on disk; created an empty one");
        await createRepo(paths, org.name);
      }
    }

    const buildLogs = new BuildLogs(objects);
    // Logs of a server from before they lived in the store; left for the next start if the store is away now.
    await moveLegacyLogs(paths.logs, buildLogs).then(
      (moved) =>
        moved > 0 &&
        logger.info({ moved, store: objects.description }, "moved old build logs into the store"),
      (err: unknown) =>
        logger.warn({ err }, "could not move old build logs into the store; trying again at the next start"),
    );
    const hookSecret = randomBytes(32).toString("base64url");
    const storehouse = await Storehouse.open({ db, objects, key: signingKey });
    await locks?.settled;
    if (locks)
      logger.info({ leader: locks.leading }, "servers sharing the database: background work on the leader");
    const maintenance = new StorehouseMaintenance({
      storehouse,
      logger,
      leading,
      ...settings.maintenance,
    });
    const quota = new QuotaGuard(db);
    storehouse.admission = quota;
    const gc = new GcService({
      storehouse,
      logger,
      leading,
      nixRootDir: paths.nixRoot,
      schedule: settings.gc.schedule,
      targetBytes: settings.gc.targetBytes,
      testBatchDelayMs: settings.gc.testBatchDelayMs,
      quota,
      locks,
    });
    const channels = new ChannelPublisher(db, logger, { leading, signals });
    // Machines' event streams wake at each profile or channel change (and look at the feed every second anyway).
    const machineHub = new MachineHub(db, logger);
    // A change on any server sharing the database (PostgreSQL) wakes the streams here too.
    signals.on("feed", () => machineHub.poke());
    channels.on("advanced", () => signals.publish("feed"));
    channels.on("pinned", () => signals.publish("feed"));
    // Set once listening: the chroot store substitutes profile packages from this server's own Storehouse.
    let selfUrl = "";
    const profiles = new ProfileEditor({
      db,
      storehouse,
      logger,
      userEnv: () => ({
        storeRoot: paths.nixRoot,
        cacheUrl: `${selfUrl}/cache`,
        publicKey: storehouse.publicKey,
        readSecret: hookSecret,
      }),
      onLive: () => signals.publish("feed"),
    });
    // The push gate runs in this process (server/git/hook-routes.ts) as the evaluator would, and leaves it the jobs.
    const gateResults = new GateResults();
    const evaluator = new Evaluator({
      db,
      paths,
      gateResults,
      logger,
      basePath,
      system: nixSystem(),
      repoLimits,
      memoryBytes: evalMemoryBytes,
      signals,
      ...(locks ? { locks } : {}),
      publishDrvs: (drvPaths, signal) =>
        publishDrvClosure({ storehouse, storeRoot: paths.nixRoot, signal }, drvPaths),
      // Every job may already be built: the channel may move at once.
      onRecorded: () => channels.poke(),
      // Tests only (server/evaluations/evaluations.test.ts): time to kill the server mid-evaluation.
      startDelayMs: settings.testEvalDelayMs,
    });
    const scheduler = new ProfileScheduler({ db, editor: profiles, channels, logger, leading, signals });
    // The shared Nix daemon (substituting from this server's Storehouse, so started once it listens) and its relay.
    const nixDaemon = settings.relay.enabled
      ? await prepareNixDaemon({
          db,
          dataDir: paths.dataDir,
          logsDir: paths.logs,
          logger,
          settings: settings.relay,
          serverRun: locks?.runId ?? 0,
          // A lone server's earlier sessions all died with its last run; in a fleet, a run lives while its lock does.
          runAlive: locks
            ? async (run) => run === locks.runId || (await locks.heldElsewhere(LOCK.run(run)))
            : async () => false,
          leading: locks ? leading : undefined,
        })
      : undefined;
    const receives = new Receives();
    // Shutdown reaches every route and page through this one signal (ctx.signal).
    const shutdown = new AbortController();
    // Private-cache reads hono let through, so the fast path answers the same client's next ones itself.
    const grants = new ReadGrants();
    const app = createApp(
      {
        db,
        paths,
        hookSecret,
        logger,
        receives,
        live: settings.live,
        signal: shutdown.signal,
        buildLogs,
        signals,
      },
      {
        storehouse: {
          storehouse,
          privateCache: settings.privateCache,
          gc,
          narRedirect: opts.narRedirect,
          grants,
          ...(nixDaemon
            ? { publishOnMiss: (hash: string) => nixDaemon.publishAdded(storehouse, hash, shutdown.signal) }
            : {}),
        },
        maintenance,
        gc: { service: gc, quota },
        evaluator,
        hooks: {
          gate: {
            maxFileSize,
            maxRepoFiles: repoLimits.maxFiles,
            maxRepoBytes: repoLimits.maxBytes,
            ...(evalMemoryBytes === undefined ? {} : { memoryBytes: evalMemoryBytes }),
            storeRoot: paths.nixRoot,
            busyboxDir: paths.busybox,
            basePath,
            system: nixSystem(),
            instantiate: true,
          },
          gateResults,
        },
        builder: { storehouse, leaseSeconds: settings.leaseSeconds, onBuildFinished: () => channels.poke() },
        channels,
        profiles,
        scheduler,
        machines: machineHub,
        ...(nixDaemon
          ? { relay: { relay: nixDaemon.relay, storehouse, storeRoot: nixDaemon.paths.storeRoot } }
          : {}),
      },
    );
    const api = getRequestListener(app.fetch);
    const cacheFast = cacheFastPath({ storehouse, privateCache: settings.privateCache, grants, logger });
    const git = await createGitHandler({ db, reposDir: paths.repos, logger, receives, locks });
    // Git waits until the run file is written and missed pushes are recorded, so hooks never see a stale file.
    let gitReady = false;
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      if (nixDaemon && isRelayRequest(req)) {
        nixDaemon.relay.answerPlain(req, res).catch((err) => {
          logger.error({ err }, "relay probe failed");
          res.destroy();
        });
        return;
      }
      if (!gitReady && req.url && /\.git\//.test(req.url)) {
        res.writeHead(503, { "content-type": "text/plain", "retry-after": "1" });
        res.end("the flox server is starting; try again in a moment\n");
        return;
      }
      try {
        if (cacheFast(req, res, api)) return;
        if (!git(req, res)) void api(req, res);
      } catch (err) {
        // A fault in one request (a locked database, say) must not take the server and every push down.
        logger.error({ err, method: req.method, url: req.url }, "request failed");
        if (!res.headersSent) {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(
            "the flox server failed on this request; the details are in its log (DATA_DIR/logs/server.log)\n",
          );
        } else res.destroy();
      }
    };
    const srv = createServer({ requestTimeout: 60 * 60 * 1000 }, listener);
    server = srv;
    srv.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (nixDaemon && isRelayRequest(req)) nixDaemon.relay.upgrade(req, socket, head);
      else socket.end("HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    });
    await new Promise<void>((ok, fail) => {
      srv.once("error", fail);
      srv.listen(address.port, address.host, () => {
        srv.off("error", fail);
        ok();
      });
    });
    const bound = srv.address();
    const port = typeof bound === "object" && bound ? bound.port : address.port;
    const url = urlOf(address.host, port);
    selfUrl = localUrl(address.host, port);

    await writeRunFile(paths.hooksRunFile, {
      serverUrl: localUrl(address.host, port),
      hookSecret,
      maxFileSize,
      maxRepoFiles: repoLimits.maxFiles,
      maxRepoBytes: repoLimits.maxBytes,
      evalMemoryBytes,
      storeRoot: paths.nixRoot,
      busyboxDir: paths.busybox,
      basePath,
      system: nixSystem(),
    });
    await nixDaemon?.start({
      cacheUrl: `${selfUrl}/cache`,
      publicKey: storehouse.publicKey,
      hookSecret,
      serverUrl: selfUrl,
    });
    const caughtUp = await reconcilePushes(db, paths.repos, logger);
    gitReady = true;
    // After reconciliation, so the evaluations of pushes recorded while the server was away are queued too.
    await evaluator.start();
    const stopSweeper = startLeaseSweeper(db, logger, Math.min(2000, settings.leaseSeconds * 1000), leading);
    const stopCatchUp = locks
      ? startPushCatchUp({ db, reposDir: paths.repos, logger, locks, signals })
      : undefined;
    channels.start();
    await scheduler.start();
    machineHub.start();
    maintenance.start();
    await gc.start();
    logger.info({ url, dataDir: paths.dataDir, ...caughtUp }, "flox server listening");

    let closing: Promise<void> | undefined;
    const close = (graceMs = 10_000) => {
      closing ??= (async () => {
        shutdown.abort();
        // First, so that hooks waiting on an evaluation are let go and the HTTP server can close.
        const evaluatorStopped = evaluator.close(graceMs);
        // Machines' event streams never end on their own; their clients reconnect to the next run.
        machineHub.close();
        // Relayed connections end now (their clients reconnect to the next run; their builds stay wanted).
        nixDaemon?.relay.close();
        await new Promise<void>((done) => {
          const force = setTimeout(() => srv.closeAllConnections(), graceMs);
          force.unref();
          srv.close(() => {
            clearTimeout(force);
            done();
          });
          srv.closeIdleConnections();
        });
        await evaluatorStopped;
        nixDaemon?.stopSweeping();
        await nixDaemon?.daemon.stop();
        const killed = await killChildren();
        if (killed > 0)
          logger.warn({ killed }, "child processes still running after the grace period killed");
        stopSweeper();
        stopCatchUp?.();
        maintenance.stop();
        await gc.stop();
        scheduler.stop();
        channels.stop();
        await closeDb();
        objects.close();
        logger.info("flox server stopped");
        logger.flush();
      })();
      return closing;
    };
    return {
      url,
      dataDir: paths.dataDir,
      logger,
      close,
      ...(admin.kind === "generated" ? { generatedAdminToken: admin.secret } : {}),
    };
  } catch (err) {
    server?.close();
    await closeDb();
    objects.close();
    logger.flush();
    throw err;
  }
}

function fail(message: string, exitCode: number): never {
  process.stderr.write(`flox server: ${message}\n`);
  process.exit(exitCode);
}

/** Runs until SIGTERM, SIGINT or SIGHUP, then shuts down gracefully; a second signal stops at once. */
export async function runServerCommand(opts: ServerCommandOptions): Promise<void> {
  let running: RunningServer;
  try {
    // The gate hook, the evaluator and the Storehouse's Nix queries all run the Nix chosen here (FLOX_NIX_BIN).
    const nix = await useNix(opts.nixBin);
    process.stderr.write(`flox server: using ${nix.describe()}\n`);
    running = await startServer(optionsFromFlags(opts));
  } catch (err) {
    if (err instanceof InvalidInputError) fail(err.message, 2);
    if (err instanceof NixNotFoundError || err instanceof NixTooOldError) fail(err.message, 1);
    if (
      err instanceof ConflictError ||
      err instanceof BusyboxMissingError ||
      err instanceof SigningKeyError ||
      err instanceof DatabaseOpenError
    ) {
      fail(err.message, 1);
    }
    // A full disk is said in one line naming the directory, never as the stack of whatever write failed.
    if (isDiskFull(err) || (await hasNoRoom(resolve(opts.dataDir)))) {
      fail(
        `cannot start: ${new DiskFullError(resolve(opts.dataDir)).message.replace(/ — try again then$/, "")}, then start the server again`,
        1,
      );
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === "EADDRINUSE")
      fail(`${opts.listen} is in use by another program; pick another --listen`, 1);
    if (e.code === "EACCES") fail(`not allowed to listen on ${opts.listen} (ports below 1024 need root)`, 1);
    throw err;
  }
  if (running.generatedAdminToken) {
    process.stderr.write(
      `flox server: no admin token existed, so one was made. It is shown only this once; keep it safe:\n  ${running.generatedAdminToken}\n`,
    );
  }
  // Tests and scripts read this line to find the port: keep it the first line on stdout, and unchanged.
  process.stdout.write(`flox server listening on ${running.url}\n`);
  await new Promise<void>((done) => {
    const stop = (signal: NodeJS.Signals) => {
      process.once(signal, () => process.exit(130));
      running.logger.info({ signal }, "shutting down");
      void running.close().then(done);
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    process.once("SIGHUP", stop);
  });
}
