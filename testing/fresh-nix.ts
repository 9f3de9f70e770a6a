// A brand-new machine's Nix for end-to-end tests: an empty /nix bind-mounted in a private mount namespace (so the
// host's store is untouched and nix-channel, nix-env and nix-store -r behave as on a fresh install), substituting
// only from the test server's Storehouse with only `key` trusted (NIX-PROTOCOLS.md, "Isolating a stock Nix client").

import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { isolatedNixEnv } from "../lib/nix-isolated-env.js";
import { clientNixDir } from "./client-nix.js";

/**
 * Runs `script` (sh) in it; `$0` is the client's directory, `$1`… are `args`. The first thing the script must do
 * is nothing: the bind mount is done before it.
 */
export async function runFreshNix(opts: {
  dir: string;
  cacheUrl: string;
  key: string;
  script: string;
  args?: string[];
  /** More nix.conf lines, e.g. `netrc-file = …`. */
  extraConf?: string;
  /** More environment, e.g. NIX_REMOTE for a client of a daemon. */
  env?: Record<string, string>;
  timeoutMs?: number;
}) {
  await mkdir(join(opts.dir, "nix"), { recursive: true });
  const nixDir = clientNixDir();
  const { env } = await isolatedNixEnv({
    ...(nixDir ? { nixDir } : {}),
    dir: opts.dir,
    conf: [
      `substituters = ${opts.cacheUrl}`,
      `trusted-public-keys = ${opts.key}`,
      "require-sigs = true",
      "build-users-group =",
      "sandbox = false",
      opts.extraConf ?? "",
    ],
  });
  return execa(
    "/usr/bin/unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "/bin/sh",
      "-c",
      `/usr/bin/mount --bind "$0/nix" /nix && ${opts.script}`,
      opts.dir,
      ...(opts.args ?? []),
    ],
    {
      env: { ...env, USER: "root", ...opts.env },
      extendEnv: false,
      reject: false,
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
    },
  );
}
