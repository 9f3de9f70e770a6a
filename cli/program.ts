// The `flox` command tree. Kept apart from main.ts so tests can walk the tree without running it.
import { Command } from "commander";
import { registerCommands } from "./tree/index.js";

// Kept in step with package.json by cli/cli.test.ts; reading package.json would cost every start-up a file read.
export const version = "0.1.0";

export function buildProgram(): Command {
  const program = new Command("flox")
    .description("Nix for simplicity and scale, self-hosted")
    .version(version, "-V, --version")
    .option("--server <url>", "flox server URL (default: $FLOX_SERVER or the one saved by `flox login`)")
    .option("--token <token>", "API token (default: $FLOX_TOKEN or the one saved by `flox login`)")
    .option("--json", "print data as JSON")
    // Set before the subcommands exist: commander copies these settings into each one as it is created.
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  program.addHelpText(
    "after",
    `
Start here:
  flox server --data-dir ./data --admin-token secret   run a server
  flox login http://127.0.0.1:8080                     save its URL and your token
  flox org create acme                                 create an org and its git repo
  mkdir acme && cd acme && flox init --org acme        clone its repo; then flox init starts a package
`,
  );
  registerCommands(program);
  return program;
}

/**
 * `flox init --version 1.2` means the package's version, but commander gives `--version` to the program
 * wherever it stands (and prints flox's). In init's arguments it becomes `--pkg-version`.
 */
export function routeInitVersion(argv: readonly string[]): string[] {
  // The subcommand is the first argument that is neither an option nor the value of --server/--token.
  let at = 2;
  while (at < argv.length && argv[at]?.startsWith("-"))
    at += argv[at] === "--server" || argv[at] === "--token" ? 2 : 1;
  if (argv[at] !== "init") return [...argv];
  return argv.map((a, i) =>
    i <= at
      ? a
      : a === "--version"
        ? "--pkg-version"
        : a.startsWith("--version=")
          ? `--pkg-${a.slice(2)}`
          : a,
  );
}
