// One relayed connection's forwarder: `nix-daemon --stdio` pointed at the shared daemon's socket, run as the
// org's unprivileged uid. The shared daemon judges that uid (SO_PEERCRED) against `trusted-users = root`, so every
// relayed client is untrusted, whatever it asks for; and two orgs never share a uid.
// Nix 2.8 copies the bytes both ways. From 2.20 (2.26 included) it instead serves the client itself, as a trusted
// one, unless told `--force-untrusted` (2.16+, behind the `daemon-trust-override` feature): then 2.20+ copies the
// bytes as 2.8 does, and 2.16–2.19 serve the client as an untrusted one (Nix's daemon.cc, runDaemon). Either way
// only an untrusted user's rules apply, and the shared daemon answers every operation.
import { type ChildProcess, spawn } from "node:child_process";
import { Socket } from "node:net";
import { nixProgram } from "../../lib/nix-bin.js";
import type { DaemonPaths } from "./daemon-files.js";
import { closeFds, pipePair } from "./fifo-pipes.js";

/** The first uid of the relay's range: org N's forwarders run as BASE + N. No account is needed for it. */
export const DEFAULT_RELAY_UID_BASE = 620_000;

export function relayUid(orgId: number, base = DEFAULT_RELAY_UID_BASE): number {
  return base + orgId;
}

export interface Forwarder {
  child: ChildProcess;
  /** Bytes for the daemon (the forwarder's stdin). */
  toDaemon: Socket;
  /** Bytes from the daemon (the forwarder's stdout). */
  fromDaemon: Socket;
}

export async function startForwarder(opts: {
  paths: DaemonPaths;
  uid: number;
  nixBinDir?: string | undefined;
  /** Pass `--force-untrusted` (the chosen Nix has it: `features.daemonForceUntrusted`). */
  forceUntrusted?: boolean;
  onStderr?: (line: string) => void;
}): Promise<Forwarder> {
  const { stdin, stdout } = await pipePair();
  let child: ChildProcess;
  try {
    child = spawn(
      "setpriv",
      [
        `--reuid=${opts.uid}`,
        `--regid=${opts.uid}`,
        "--clear-groups",
        "--pdeathsig=KILL",
        "--",
        nixProgram("nix-daemon", opts.nixBinDir),
        "--stdio",
        ...(opts.forceUntrusted ? ["--force-untrusted"] : []),
      ],
      {
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: "/nonexistent",
          NIX_CONF_DIR: opts.paths.clientConfDir,
          NIX_USER_CONF_FILES: "",
          NIX_REMOTE: `unix://${opts.paths.socket}`,
          ...(opts.forceUntrusted
            ? { NIX_CONFIG: "extra-experimental-features = daemon-trust-override" }
            : {}),
        },
        cwd: "/",
        stdio: [stdin.read, stdout.write, "pipe"],
      },
    );
  } finally {
    await closeFds(stdin.read, stdout.write);
  }
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (s: string) => {
    for (const line of s.split("\n")) if (line.trim()) opts.onStderr?.(line.trim());
  });
  const toDaemon = new Socket({ fd: stdin.write, readable: false, writable: true });
  const fromDaemon = new Socket({ fd: stdout.read, readable: true, writable: false });
  toDaemon.on("error", () => undefined);
  fromDaemon.on("error", () => undefined);
  return { child, toDaemon, fromDaemon };
}
