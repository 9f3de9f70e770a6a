// Where everything lives inside `flox server --data-dir DIR` (docs/ARCHITECTURE.md, "Data directory").
import { join } from "node:path";

export interface DataPaths {
  dataDir: string;
  db: string;
  repos: string;
  nixRoot: string;
  busybox: string;
  run: string;
  /** Read by the git hooks; see HookRunFile in lib/api/internal.ts. */
  hooksRunFile: string;
  logs: string;
  serverLog: string;
  store: string;
  keys: string;
  /** Channel tarballs, one directory per channel point (made on first request). */
  channels: string;
}

export function dataPaths(dataDir: string, reposDir?: string): DataPaths {
  return {
    dataDir,
    db: join(dataDir, "db.sqlite"),
    repos: reposDir ?? join(dataDir, "repos"),
    nixRoot: join(dataDir, "nix-root"),
    busybox: join(dataDir, "busybox"),
    run: join(dataDir, "run"),
    hooksRunFile: join(dataDir, "run", "hooks.json"),
    logs: join(dataDir, "logs"),
    serverLog: join(dataDir, "logs", "server.log"),
    store: join(dataDir, "store"),
    keys: join(dataDir, "keys"),
    channels: join(dataDir, "channels"),
  };
}

/** The bare repo of an org. The name must already be validated (lib/api/common.ts `Name`). */
export function repoDir(reposDir: string, org: string): string {
  return join(reposDir, org, "nixexprs.git");
}
