// The files the shared Nix daemon runs from: its nix.conf, the build-hook wrapper and the hook's config, the
// forwarders' empty nix.conf, and where its socket lives (short and reachable by the forwarders' uids).
import { createHash } from "node:crypto";
import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BuildHookConfig } from "../../lib/api/relay.js";
import { compiledPath } from "../../lib/project-root.js";

/** The machine the build hook names to Nix ("building '…' on 'flox-farm'"). */
export const MACHINE_NAME = "flox-farm";

/** The daemon's `system`: no derivation's platform, so that Nix finds nothing it could build here. */
export const NO_LOCAL_SYSTEM = "flox-farm-only";
/** A group that does not exist: a local build that still starts fails on it. */
export const NO_BUILD_USERS_GROUP = "flox-no-local-builds";

export interface DaemonPaths {
  /** DATA_DIR/nix-daemon */
  dir: string;
  /** The shared store: a chroot store (`local?root=…`). */
  storeRoot: string;
  /** The daemon's nix.conf directory (NIX_CONF_DIR). */
  confDir: string;
  /** HOME and caches of the daemon and of the Nix processes its hook runs. */
  homeDir: string;
  hookWrapper: string;
  hookConfig: string;
  /**
   * Outside the data dir, which may be private (mode 0700) and whose path may be longer than a unix socket's
   * 108 bytes: a directory every forwarder uid may enter, named after the data dir.
   */
  socketDir: string;
  socket: string;
  /** An empty nix.conf for the forwarders, so that they read none of the host's. */
  clientConfDir: string;
  log: string;
}

export function daemonPaths(dataDir: string, logsDir: string): DaemonPaths {
  const dir = join(dataDir, "nix-daemon");
  const socketDir = join(
    tmpdir(),
    `flox-nixd-${createHash("sha256").update(dataDir).digest("hex").slice(0, 12)}`,
  );
  return {
    dir,
    storeRoot: join(dir, "root"),
    confDir: join(dir, "conf"),
    homeDir: join(dir, "home"),
    hookWrapper: join(dir, "build-hook"),
    hookConfig: join(dir, "hook.json"),
    socketDir,
    socket: join(socketDir, "socket"),
    clientConfDir: join(socketDir, "client-conf"),
    log: join(logsDir, "nix-daemon.log"),
  };
}

export interface DaemonSettings {
  /** The Storehouse, as the daemon substitutes from it: `http://127.0.0.1:PORT/cache`. */
  cacheUrl: string;
  /** The server's key (`name:base64`): the only one the daemon trusts. */
  publicKey: string;
}

/**
 * The daemon's nix.conf. Why each line:
 * - `trusted-users = root`: every relayed client reaches it through a forwarder running as an unprivileged uid,
 *   so Nix treats each one as untrusted (no unsigned input-addressed imports, no restricted settings);
 * - `build-hook`: flox's hook, which accepts every build and sends it to the farm;
 * - no build may run here (it would run as root on the server), and `max-jobs = 0` cannot say so: every client sends
 *   its own max-jobs in its options, which Nix 2.8 and 2.26 apply even for an untrusted user. So two restricted
 *   settings, which an untrusted client cannot change, do it instead (Nix's derivation-goal.cc, both versions):
 *   - `system` names no real platform and `extra-platforms` is empty: to Nix no derivation but a `builtin:` one can
 *     build here, so even a `preferLocalBuild` one (nixpkgs' writeText, runCommandLocal) goes to the hook;
 *   - `build-users-group` names a group that does not exist, for what still starts a local build (a `builtin:`
 *     derivation with `preferLocalBuild`, `--check`): Nix takes a build user before it starts one and fails with
 *     "the group … specified in 'build-users-group' does not exist", the same in both versions;
 * - NIX_CONFIG repeats this file (daemon.ts), so that nothing in the daemon's environment overrides a line of it;
 * - the Storehouse as the only substituter, with only the server's key; no negative narinfo cache, because the
 *   farm's outputs appear there while the daemon waits for them.
 */
export function daemonNixConf(s: DaemonSettings, hookWrapper: string, netrcFile: string): string {
  return [
    "trusted-users = root",
    "allowed-users = *",
    `system = ${NO_LOCAL_SYSTEM}`,
    "extra-platforms =",
    `build-users-group = ${NO_BUILD_USERS_GROUP}`,
    `build-hook = ${hookWrapper}`,
    "builders =",
    `substituters = ${s.cacheUrl}`,
    `trusted-public-keys = ${s.publicKey}`,
    "require-sigs = true",
    "narinfo-cache-negative-ttl = 0",
    // With --private-cache the Storehouse wants a credential even from this server's own daemon.
    `netrc-file = ${netrcFile}`,
    "sandbox = false",
    "keep-derivations = true",
    "",
  ].join("\n");
}

async function writeAtomic(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, file);
}

const shQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Writes every file the daemon and its hook read; called at each start (the URL and the secret change). */
export async function writeDaemonFiles(
  paths: DaemonPaths,
  settings: DaemonSettings,
  hook: BuildHookConfig,
): Promise<void> {
  for (const d of [paths.dir, paths.storeRoot, paths.confDir, paths.homeDir]) {
    await mkdir(d, { recursive: true, mode: 0o700 });
  }
  // Forwarders run as other uids: they must reach the socket and read their (empty) nix.conf.
  await mkdir(paths.clientConfDir, { recursive: true, mode: 0o755 });
  await chmod(paths.socketDir, 0o755);
  await chmod(paths.clientConfDir, 0o755);
  await writeAtomic(join(paths.clientConfDir, "nix.conf"), "substituters =\n", 0o644);
  const netrc = join(paths.confDir, "netrc");
  await writeAtomic(
    netrc,
    `machine ${new URL(settings.cacheUrl).hostname} login flox password ${hook.hookSecret}\n`,
    0o600,
  );
  await writeAtomic(
    join(paths.confDir, "nix.conf"),
    daemonNixConf(settings, paths.hookWrapper, netrc),
    0o644,
  );
  await writeAtomic(paths.hookConfig, `${JSON.stringify(BuildHookConfig.parse(hook), null, 2)}\n`, 0o600);
  const entry = compiledPath("hooks/build-hook/main.ts");
  // The daemon waits for its hook's answer to each build before it starts the next: the answer (always accept) goes
  // out before Node starts, so builds reach the farm one shell start apart, not one Node start apart.
  await writeAtomic(
    paths.hookWrapper,
    `#!/bin/sh\nprintf '# accept\\n${MACHINE_NAME}\\n' >&2\nexec ${shQuote(process.execPath)} ${shQuote(entry)} ${shQuote(paths.hookConfig)} --accepted "$@"\n`,
    0o700,
  );
}
