// `flox nix -- CMD…`: a stock Nix command with NIX_REMOTE at the relay socket. Where this machine's /nix/store is
// not the agent's mount, it runs in a private mount namespace whose /nix/store is (the one-liner for a laptop).
import { spawn } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { constants } from "node:os";
import { resolve } from "node:path";
import type { Command } from "commander";
import { namespaceArgv } from "../../fs-agent/exec.js";

interface NixFlags {
  daemonSocket?: string;
  mount?: string;
}

export async function nix(cmd: Command, command: string[]): Promise<void> {
  const flags = cmd.opts<NixFlags>();
  const usage = (m: string): never => cmd.error(`error: ${m}`, { exitCode: 2, code: "flox.usage" });
  const socket = flags.daemonSocket ?? process.env.FLOX_DAEMON_SOCKET;
  if (!socket)
    usage("which relay socket? pass --daemon-socket PATH (flox daemon --socket) or set FLOX_DAEMON_SOCKET");
  if (command.length === 0) usage("which command? flox nix -- nix-build FILE.nix");
  if (!existsSync(socket as string)) {
    usage(
      `${socket} does not exist: start the relay first (flox daemon --socket ${socket}, or flox agent --daemon-socket)`,
    );
  }
  const mount = resolve(flags.mount ?? process.env.FLOX_MOUNT ?? "/nix/store");
  const sameStore = existsSync("/nix/store") && realpathSync(mount) === realpathSync("/nix/store");
  // The bind target must exist; an empty /nix/store on the host is harmless (the namespace hides it).
  if (!sameStore) await mkdir("/nix/store", { recursive: true });
  const argv = sameStore ? command : namespaceArgv(mount, command);
  const [program, ...args] = argv;
  const child = spawn(program as string, args, {
    stdio: "inherit",
    env: { ...process.env, NIX_REMOTE: `unix://${resolve(socket as string)}` },
  });
  const code = await new Promise<number>((ok) => {
    child.once("exit", (c, signal) => ok(c ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
    child.once("error", (err) => {
      process.stderr.write(`flox nix: ${program}: ${err.message}\n`);
      ok(127);
    });
  });
  process.exit(code);
}
