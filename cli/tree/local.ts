// `flox init` and `flox check`: the commands that work on a checkout, without a server. Actions import their module on demand.
import type { Command } from "commander";

export function registerLocal(program: Command): void {
  const init = program
    .command("init")
    .description("clone an org's nixexprs repo (--org), or start a package in this checkout from a template")
    .option(
      "--org <org>",
      "in an empty directory: clone ORG's nixexprs repo here (creating the org if the token may)",
    )
    .option("--name <name>", "the package's name: its directory pkgs/NAME")
    .option(
      "--template <id>",
      "shell, data, c-make, python, node or binary (default: what the sources look like)",
    )
    // `flox init --version X` reaches this option too: see routeInitVersion in program.ts.
    .option("--pkg-version <version>", "the package's version (default 0.1.0); --version works too")
    .option("--description <text>", "a one-line description (meta.description)")
    .option("--license <name>", "a nixpkgs lib.licenses name: mit, asl20, bsd3, gpl3Plus, … (default mit)")
    .option(
      "--src <source>",
      "a directory (copied to pkgs/NAME/src unless it is inside it), an http(s) URL, or a git repo (git+URL, or a URL ending in .git)",
    )
    .option("--git-ref <ref>", "with a git --src: the branch, tag or commit (default: its HEAD)")
    .option("-y, --yes", "ask nothing: take the flags and the defaults")
    .action(async (opts, cmd: Command) => (await import("../commands/init.js")).init(cmd, opts));
  init.addHelpText(
    "after",
    `
Inside a checkout it asks (on a terminal) for each answer not given as a flag; with --yes, or
without a terminal, it takes the defaults. URL and git sources are fetched at once to write their
sha256 into the package. Templates shell, data and binary build with the bootstrap base set;
c-make, python and node need nixpkgs as the server's base set (flox server --base).

Examples:
  mkdir acme && cd acme && flox init --org acme
  flox init
  flox init --name hello --template shell --yes
  flox init --name mytool --src ./vendor/mytool --description "our tool" --yes
  flox init --name data-set --template data --src https://example.org/data-1.0.tar.gz --yes
`,
  );

  const check = program
    .command("check")
    .description("run the push gate's checks (layout, parse, evaluation) on this checkout's work tree")
    .option(
      "--base <path>",
      "a nixpkgs tree as the base set, as `flox server --base` (default: the server's, else the bootstrap set)",
    )
    .option(
      "--max-file-size <bytes>",
      "largest file a push may contain, as the server's --max-file-size",
      "10485760",
    )
    .option(
      "--nix-bin <dir>",
      "the directory of the Nix to run, e.g. /nix/var/nix/profiles/default/bin (default: $FLOX_NIX_BIN, else PATH)",
    )
    .action(async (opts, cmd: Command) => (await import("../commands/check.js")).check(cmd, opts));
  check.addHelpText(
    "after",
    `
The same code as the server's pre-receive hook (hooks/gate.ts), over the work tree as \`git add -A\`
would see it (untracked files too, ignored ones not), without touching your index. Prints the
problems as the push would (path:line: message (hint)) and exits 1 when there are any.

Examples:
  flox check
  flox check --json
  flox check --base ~/src/nixpkgs
`,
  );
}
