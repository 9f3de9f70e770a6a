// `flox builder`: a build agent that takes builds from the server. Actions import their module on demand.
import type { Command } from "commander";

export function registerBuilder(program: Command): void {
  const builder = program
    .command("builder")
    .description(
      "run a build agent: claim builds from the server, build them in a chroot store, upload the outputs",
    )
    .requiredOption("--store <dir>", "this builder's own chroot Nix store (created if missing)")
    .requiredOption("--systems <list>", "comma-separated systems it builds for, e.g. x86_64-linux")
    .option("--features <list>", "comma-separated system features it offers, e.g. kvm,big-parallel")
    .option("--max-jobs <n>", "builds run side by side", "1")
    .option(
      "--nix-bin <dir>",
      "the directory of the Nix to run, e.g. /nix/var/nix/profiles/default/bin (default: $FLOX_NIX_BIN, else PATH)",
    )
    .option("--name <name>", "how the server lists this builder (default: HOST-PID)")
    .option(
      "--store-max <size>",
      "after a build, collect the store (nix-store --gc) when it is above this, e.g. 20G (default: never)",
    )
    .option(
      "--allow-host-store",
      "accept a --store that is the host's own (/, /nix) or inside a flox server's data dir (refused otherwise)",
    )
    .action(async (_opts, cmd: Command) => (await import("../commands/builder.js")).builder(cmd));
  builder.addHelpText(
    "after",
    `
Needs --server URL and --token T (a builder token: flox token create --builder), or FLOX_SERVER and
FLOX_TOKEN. Runs until SIGTERM/SIGINT; builds it was running go back to the queue. Exits 1 when the server
refuses the token. --store must be the builder's own: /, the host's /nix/store and a flox server's data dir are
refused unless --allow-host-store is given.

Examples:
  flox builder --server http://ci.internal:8080 --token flox_… --store /var/lib/flox-builder --systems x86_64-linux
  flox builder --store ./b1 --systems x86_64-linux --features kvm --max-jobs 4 --name b1
`,
  );
}
