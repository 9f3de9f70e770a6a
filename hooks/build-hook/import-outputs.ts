// Makes the farm's outputs valid in the shared daemon's store: substituted from the Storehouse (signed by the
// server, the only key the daemon trusts). The daemon holds the outputs' locks while its hook runs, so the
// importing Nix is told so through NIX_HELD_LOCKS, or it would wait for them forever.
import { join } from "node:path";
import { execa } from "execa";
import type { BuildHookConfig } from "../../lib/api/relay.js";
import { nixProgram } from "../../lib/nix-bin.js";

export async function importOutputs(cfg: BuildHookConfig, paths: readonly string[]): Promise<void> {
  if (paths.length === 0) return;
  const r = await execa(
    nixProgram("nix-store", cfg.nixBinDir),
    ["--store", `local?root=${cfg.storeRoot}`, "--realise", ...paths],
    {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: cfg.homeDir,
        XDG_CACHE_HOME: join(cfg.homeDir, ".cache"),
        NIX_CONF_DIR: cfg.nixConfDir,
        NIX_USER_CONF_FILES: join(cfg.nixConfDir, "nix.conf"),
        NIX_HELD_LOCKS: paths.join(" "),
      },
      extendEnv: false,
      reject: false,
      stdin: "ignore",
      timeout: 3_600_000,
    },
  );
  if (r.exitCode !== 0) {
    throw new Error(
      `importing ${paths.join(" ")} from the Storehouse failed: ${String(r.stderr).trim().split("\n").slice(-3).join(" / ")}`,
    );
  }
}
