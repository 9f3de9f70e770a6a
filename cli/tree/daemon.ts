// `flox daemon` (a local socket relaying to the server's shared Nix daemon) and `flox nix -- CMD` (a stock Nix
// command through it, with the agent's mount as /nix/store). Actions import their module on demand.
import type { Command } from "commander";
import { examples } from "./help.js";

export function registerDaemon(program: Command): void {
  const daemon = program
    .command("daemon")
    .description(
      "serve a local unix socket that relays every Nix daemon connection to the server's shared daemon (builds run on the farm)",
    )
    .requiredOption("--socket <path>", "the unix socket to serve: NIX_REMOTE=unix://PATH")
    .option(
      "--daemon-token <token>",
      "the token the relay uses (default: --token, FLOX_TOKEN or `flox login`)",
    )
    .option("--org <name>", "the org the builds are for (default: the token's org, or the user's only org)")
    .option("--reconnect-for <s>", "how long a connection waits for a server that is away", "60")
    .action(async (_opts, cmd: Command) => (await import("../commands/daemon.js")).daemon(cmd));
  examples(daemon, [
    "flox daemon --socket /run/flox/daemon.sock",
    "NIX_REMOTE=unix:///run/flox/daemon.sock nix-build hello.nix",
  ]);

  const nix = program
    .command("nix")
    .description(
      "run a stock Nix command through the relay socket, with the agent's mount as /nix/store (a private mount namespace where needed)",
    )
    .argument("<command...>", "the Nix command and its arguments (after --)")
    .option(
      "--daemon-socket <path>",
      "the relay socket (flox daemon --socket, flox agent --daemon-socket); default $FLOX_DAEMON_SOCKET",
    )
    .option("--mount <dir>", "the agent's mount; default $FLOX_MOUNT, else /nix/store")
    .action(async (command: string[], _opts, cmd: Command) =>
      (await import("../commands/nix.js")).nix(cmd, command),
    );
  examples(nix, [
    "flox nix --daemon-socket /run/flox/daemon.sock --mount /var/lib/flox/store -- nix-build hello.nix",
    "flox nix -- nix-store -q --references /nix/store/…-hello",
  ]);
}
