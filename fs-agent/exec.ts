// `flox agent exec`: runs a command in a private mount namespace whose /nix/store is the agent's mount, so
// programs find their own /nix/store/... paths on a machine that has a /nix/store of its own (or none).
import { spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { constants } from "node:os";
import { resolve } from "node:path";

/** The shell the namespace runs: bind the mount over /nix/store, then exec the command. */
export const NAMESPACE_SCRIPT = 'mount --bind "$0" /nix/store && exec "$@"';

/** `unshare` argv for running `command` with MOUNT as /nix/store (needs root, or CAP_SYS_ADMIN). */
export function namespaceArgv(mount: string, command: readonly string[]): string[] {
  return [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    NAMESPACE_SCRIPT,
    resolve(mount),
    ...command,
  ];
}

export async function execInStore(mount: string, command: readonly string[]): Promise<number> {
  // The bind target must exist; an empty /nix/store on the host is harmless (the namespace hides it).
  await mkdir("/nix/store", { recursive: true });
  const [cmd, ...args] = namespaceArgv(mount, command);
  const child = spawn(cmd as string, args, { stdio: "inherit" });
  return new Promise((ok) => {
    child.once("exit", (code, signal) => ok(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
    child.once("error", (err) => {
      process.stderr.write(`flox agent exec: ${err.message}\n`);
      ok(127);
    });
  });
}
