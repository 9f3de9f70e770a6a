// The `flox` command. Subcommands load their modules lazily so that `flox --version` stays fast.
import { CommanderError } from "commander";
import { CliError, exitCodes } from "./output.js";
import { buildProgram, routeInitVersion } from "./program.js";

/** cli/bin/flox tuned glibc's malloc for this process alone: the programs it runs get the caller's setting back. */
function restoreChildEnvironment(): void {
  const user = process.env.FLOX_USER_GLIBC_TUNABLES;
  if (user === undefined) return;
  delete process.env.FLOX_USER_GLIBC_TUNABLES;
  if (user === "") delete process.env.GLIBC_TUNABLES;
  else process.env.GLIBC_TUNABLES = user;
}

async function main(argv: string[]): Promise<number> {
  restoreChildEnvironment();
  const program = buildProgram();
  try {
    await program.parseAsync(routeInitVersion(argv));
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
    if (await isExpectedFailure(err)) {
      process.stderr.write(`flox: ${(err as Error).message}\n`);
      return exitCodes.failed;
    }
    process.stderr.write(`flox: ${(err as Error).stack ?? String(err)}\n`);
    return exitCodes.failed;
  }
}

// Imported only on this path: loading the client (and zod) up front would slow down `flox --version`.
async function isExpectedFailure(err: unknown): Promise<boolean> {
  const { ApiError, ApiUnreachableError, ApiResponseError } = await import("../lib/api/errors.js");
  const { ConfigError } = await import("../lib/cli-config.js");
  const { ServerListError } = await import("../lib/api/servers.js");
  return (
    err instanceof ApiError ||
    err instanceof ApiUnreachableError ||
    err instanceof ApiResponseError ||
    err instanceof ConfigError ||
    err instanceof ServerListError
  );
}

process.exitCode = await main(process.argv);
