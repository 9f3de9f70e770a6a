// The shared Nix daemon's part of a server run: its files, the daemon itself and the relay in front of it, made
// before the server listens (routes need the relay) and started after (the daemon substitutes from this server).
import { join } from "node:path";
import type { Logger } from "pino";
import { chosenNixDir, probeNix } from "../../lib/nix-install.js";
import type { RelaySettings } from "../config.js";
import type { Db } from "../db/open.js";
import type { Storehouse } from "../storehouse/store.js";
import { SharedDaemon } from "./daemon.js";
import { type DaemonPaths, daemonPaths, writeDaemonFiles } from "./daemon-files.js";
import { publishFromSharedStore } from "./publish-added.js";
import { DaemonRelay } from "./relay.js";
import { endOrphanedSessions } from "./sessions.js";

export interface NixDaemonPart {
  paths: DaemonPaths;
  daemon: SharedDaemon;
  relay: DaemonRelay;
  /**
   * Puts a path of the shared store into the Storehouse on its first request (a path a client added through the
   * daemon: a .drv, a source), so that the agents' mounts reach everything the daemon's clients see.
   */
  publishAdded(storehouse: Storehouse, hash: string, signal: AbortSignal): Promise<boolean>;
  /** Writes its files for this run (URL, key, hook secret) and starts the daemon. */
  start(run: { serverUrl: string; cacheUrl: string; publicKey: string; hookSecret: string }): Promise<void>;
  /** Stops ending other runs' orphaned sessions (the fleet's sweep, see `leading`). */
  stopSweeping(): void;
}

/** How often the leader of a fleet ends the sessions of servers that died and did not come back. */
const SESSION_SWEEP_MS = 60_000;

export async function prepareNixDaemon(o: {
  db: Db;
  dataDir: string;
  logsDir: string;
  logger: Logger;
  settings: RelaySettings;
  nixBinDir?: string | undefined;
  /** This server's run id, and whether another run still lives (server-locks.ts). */
  serverRun: number;
  runAlive: (run: number) => Promise<boolean>;
  /** Several servers: the leader sweeps every minute (a lone server's sessions are all its own). */
  leading?: (() => boolean) | undefined;
}): Promise<NixDaemonPart> {
  const paths = daemonPaths(o.dataDir, o.logsDir);
  // Sessions a killed run left open (this server's last run, or another server's that is gone): their
  // connections died with it.
  await endOrphanedSessions(o.db, o.runAlive);
  const daemon = new SharedDaemon({ paths, logger: o.logger, nixBinDir: o.nixBinDir });
  const nix = await probeNix(o.nixBinDir ?? chosenNixDir());
  const relay = new DaemonRelay({
    db: o.db,
    logger: o.logger,
    paths,
    uidBase: o.settings.uidBase,
    maxPerToken: o.settings.maxPerToken,
    nixBinDir: o.nixBinDir,
    forceUntrusted: nix.features.daemonForceUntrusted,
    serverRun: o.serverRun,
  });
  let sweeper: NodeJS.Timeout | undefined;
  return {
    paths,
    daemon,
    relay,
    stopSweeping: () => clearInterval(sweeper),
    publishAdded: (storehouse, hash, signal) =>
      publishFromSharedStore({ storehouse, storeRoot: paths.storeRoot, signal }, hash),
    async start(run) {
      await writeDaemonFiles(
        paths,
        { cacheUrl: run.cacheUrl, publicKey: run.publicKey },
        {
          serverUrl: run.serverUrl,
          hookSecret: run.hookSecret,
          storeRoot: paths.storeRoot,
          nixConfDir: paths.confDir,
          homeDir: join(paths.homeDir, "hook"),
          ...(o.nixBinDir ? { nixBinDir: o.nixBinDir } : {}),
        },
      );
      await daemon.start();
      const leading = o.leading;
      if (leading) {
        sweeper = setInterval(() => {
          if (!leading()) return;
          endOrphanedSessions(o.db, o.runAlive).then(
            (ended) => ended > 0 && o.logger.info({ ended }, "relay sessions of a server that is gone ended"),
            (err: unknown) => o.logger.warn({ err }, "ending the relay sessions of gone servers failed"),
          );
        }, SESSION_SWEEP_MS);
        sweeper.unref();
      }
    },
  };
}
