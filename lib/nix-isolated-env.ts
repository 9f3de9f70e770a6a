// The throw-away Nix environment every Nix process flox starts runs in: its own nix.conf, HOME, caches and TMPDIR
// under one directory, so the host's nix.conf, user config and binary-cache sqlite are never read, and PATH led by
// the chosen Nix (lib/nix-install.ts) so that Nix's own children find the same version.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { chosenNixDir } from "./nix-install.js";

export interface IsolatedNixOptions {
  /** Holds etc/ (nix.conf, user.conf), home/, cache/ and tmp/; created if missing. */
  dir: string;
  /** nix.conf lines. */
  conf: readonly string[];
  /**
   * Keep the host's other variables (everything but NIX_* and XDG_*); by default only PATH is kept. Builders
   * keep them (a build's fetchurl honours proxies); the evaluator does not.
   */
  inheritHost?: boolean;
  /** Where TMPDIR points (default DIR/tmp). */
  tmpDir?: string;
  /** The Nix directory to put first on PATH, instead of the process's choice (--nix-bin / FLOX_NIX_BIN). */
  nixDir?: string;
}

export interface IsolatedNix {
  env: Record<string, string>;
  /** DIR/etc: the NIX_CONF_DIR. */
  confDir: string;
  home: string;
}

/** Writes DIR/etc/nix.conf and an empty user.conf; returns the environment to run Nix with. */
export async function isolatedNixEnv(opts: IsolatedNixOptions): Promise<IsolatedNix> {
  const confDir = join(opts.dir, "etc");
  const home = join(opts.dir, "home");
  const tmp = opts.tmpDir ?? join(opts.dir, "tmp");
  for (const d of [confDir, home, tmp]) await mkdir(d, { recursive: true });
  await writeFile(join(confDir, "nix.conf"), [...opts.conf, ""].join("\n"));
  await writeFile(join(confDir, "user.conf"), "");
  const env: Record<string, string> = {};
  if (opts.inheritHost) {
    for (const [k, v] of Object.entries(process.env)) {
      if (v !== undefined && !k.startsWith("NIX_") && !k.startsWith("XDG_")) env[k] = v;
    }
  }
  const nixDir = opts.nixDir ?? chosenNixDir();
  const basePath = process.env.PATH ?? "/usr/bin:/bin";
  Object.assign(env, {
    PATH: nixDir && !basePath.startsWith(`${nixDir}:`) ? `${nixDir}:${basePath}` : basePath,
    HOME: home,
    TMPDIR: tmp,
    XDG_CACHE_HOME: join(home, ".cache"),
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local/share"),
    XDG_STATE_HOME: join(home, ".local/state"),
    NIX_CONF_DIR: confDir,
    NIX_USER_CONF_FILES: join(confDir, "user.conf"),
    NIX_PATH: "",
    ...(nixDir ? { FLOX_NIX_BIN: nixDir } : {}),
  });
  return { env, confDir, home };
}
