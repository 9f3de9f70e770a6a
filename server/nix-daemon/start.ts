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
}

export async function prepareNixDaemon(o: {
  db: Db;
  dataDir: string;
  logsDir: string;
  logger: Logger;
  settings: RelaySettings;
  nixBinDir?: string | undefined;
}): Promise<NixDaemonPart> {
  const paths = daemonPaths(o.dataDir, o.logsDir);
  // Sessions a killed run left open: their connections died with it.
  await endOrphanedSessions(o.db);
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
  });
  return {
    paths,
    daemon,
    relay,
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
    },
  };
}
