// The shared Nix daemon: one real `nix-daemon --daemon` on the shared chroot store, started with the server and
// restarted whenever it dies, with its socket where the forwarders reach it.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { nixProgram } from "../../lib/nix-bin.js";
import { Backoff } from "../../lib/retry.js";
import type { DaemonPaths } from "./daemon-files.js";

export interface SharedDaemonOptions {
  paths: DaemonPaths;
  logger: Logger;
  nixBinDir?: string | undefined;
}

/**
 * The daemon's environment: its store, its nix.conf and its socket, nothing of the host's. `nixConf` (the text of
 * its nix.conf) goes in NIX_CONFIG too: Nix applies NIX_CONFIG after nix.conf, and the chosen Nix may be a wrapper
 * that sets settings there (this repo's 2.26 prefix sets `build-hook` to Nix's own build-remote, which would
 * replace flox's hook); the wrapper puts the caller's NIX_CONFIG last, so these lines win.
 */
export function daemonEnv(paths: DaemonPaths, nixConf: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: paths.homeDir,
    XDG_CACHE_HOME: join(paths.homeDir, ".cache"),
    XDG_CONFIG_HOME: join(paths.homeDir, ".config"),
    NIX_CONF_DIR: paths.confDir,
    NIX_USER_CONF_FILES: join(paths.confDir, "nix.conf"),
    NIX_REMOTE: `local?root=${paths.storeRoot}`,
    NIX_DAEMON_SOCKET_PATH: paths.socket,
    NIX_CONFIG: nixConf,
  };
}

export class SharedDaemon {
  #child: ChildProcess | undefined;
  #stopped = false;
  #backoff = new Backoff({ firstMs: 200, maxMs: 5000 });
  #restarts = 0;
  #ready: Promise<void> | undefined;

  constructor(private readonly opts: SharedDaemonOptions) {}

  get socket(): string {
    return this.opts.paths.socket;
  }

  /** The main daemon's pid (each connection is served by a process it forks), or undefined between runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** How many times it was restarted after dying. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Starts it and resolves once its socket exists. */
  start(): Promise<void> {
    this.#ready = this.#spawn();
    return this.#ready;
  }

  async #spawn(): Promise<void> {
    const { paths, logger } = this.opts;
    // A socket left by a killed run would make the next one's clients connect to nothing.
    await rm(paths.socket, { force: true });
    const nixConf = await readFile(join(paths.confDir, "nix.conf"), "utf8");
    const log = openSync(paths.log, "a");
    // setpriv's parent-death signal: a server killed with SIGKILL takes its daemon along (the daemon's per-connection
    // processes end with their forwarders, which die with the server the same way).
    const child = spawn(
      "setpriv",
      ["--pdeathsig=KILL", "--", nixProgram("nix-daemon", this.opts.nixBinDir), "--daemon"],
      {
        env: daemonEnv(paths, nixConf),
        cwd: paths.dir,
        // Its own process group: stop() ends it with the per-connection processes it forked.
        detached: true,
        stdio: ["ignore", log, log],
      },
    );
    closeSync(log);
    this.#child = child;
    child.once("error", (err) => logger.error({ err }, "the shared nix-daemon could not be started"));
    child.once("exit", (code, signal) => {
      if (this.#child === child) this.#child = undefined;
      if (this.#stopped) return;
      this.#restarts++;
      const wait = this.#backoff.next();
      logger.error(
        { code, signal, restartInMs: wait, log: paths.log },
        "the shared nix-daemon died; restarting it",
      );
      setTimeout(() => {
        if (!this.#stopped)
          void this.#spawn().catch((err) => logger.error({ err }, "nix-daemon restart failed"));
      }, wait).unref();
    });
    await waitForSocket(paths.socket, child);
    this.#backoff.reset();
    logger.info({ pid: child.pid, socket: paths.socket }, "shared nix-daemon running");
  }

  /** Ends the daemon and every connection process it forked (the hooks end when their parent does). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#end();
    // The socket's directory is outside the data dir (in the temp dir): leave nothing behind there.
    await rm(this.opts.paths.socketDir, { recursive: true, force: true });
  }

  async #end(): Promise<void> {
    const child = this.#child;
    if (!child?.pid || child.exitCode !== null) return;
    const gone = new Promise<void>((done) => child.once("exit", () => done()));
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      return;
    }
    const t = setTimeout(() => {
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // gone
      }
    }, 3000);
    await gone;
    clearTimeout(t);
  }
}

async function waitForSocket(socket: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`nix-daemon exited (${child.exitCode ?? child.signalCode}) before making its socket`);
    }
    if (
      await stat(socket).then(
        (s) => s.isSocket(),
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nix-daemon made no socket at ${socket} within 10 s`);
}
