// Registers every subcommand. Each action imports its implementation on demand.
import type { Command } from "commander";

export function registerCommands(program: Command): void {
  program
    .command("server")
    .description("run the flox server (git hosting, API, Storehouse)")
    .requiredOption("--data-dir <dir>", "where everything is kept (db.sqlite, repos/, store/, keys/, logs/)")
    .option("--listen <host:port>", "address to listen on; port 0 picks a free port", "127.0.0.1:8080")
    .option("--admin-token <token>", "first admin token (default: $FLOX_ADMIN_TOKEN, else one is generated)")
    .option("--base <path>", "use this nixpkgs tree as the base package set instead of the bootstrap set")
    .option("--max-file-size <bytes>", "largest file a push may contain", "10485760")
    .action(async (opts) => {
      const { runServerCommand } = await import("../../server/serve.js");
      await runServerCommand(opts);
    });
}
