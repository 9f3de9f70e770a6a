// The `flox` command. Subcommands load their modules lazily so that `flox --version` stays fast.
import { Command, CommanderError } from "commander";
import { registerCommands } from "./commands/index.js";
import { CliError, exitCodes } from "./output.js";

const version = "0.1.0";

export function buildProgram(): Command {
  const program = new Command("flox")
    .description("Nix for simplicity and scale, self-hosted")
    .version(version, "-V, --version")
    .option("--server <url>", "flox server URL (default: $FLOX_SERVER or the one saved by `flox login`)")
    .option("--token <token>", "API token (default: $FLOX_TOKEN or the one saved by `flox login`)")
    .option("--json", "print data as JSON")
    .showHelpAfterError()
    .exitOverride();
  registerCommands(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return exitCodes.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version throw with exitCode 0; usage errors have already been printed.
      return err.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    }
    if (err instanceof CliError) {
      process.stderr.write(`flox: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`flox: ${(err as Error).stack ?? String(err)}\n`);
    return exitCodes.failed;
  }
}

process.exitCode = await main(process.argv);
