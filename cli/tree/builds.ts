// `flox builds`, `build`, `log`, `cancel`, `restart`, `bump`, `builders`: the build queue. Actions import their module on demand.
import type { Command } from "commander";
import { examples } from "./help.js";

export function registerBuilds(program: Command): void {
  const load = () => import("../commands/builds.js");
  const builds = program
    .command("builds")
    .description("list builds, newest first (those of the orgs this token may read)")
    .option("--state <state>", "only builds in this state, e.g. running, queued, failed")
    .option("--org <org>", "only builds an org's evaluations want")
    .option("--limit <n>", "at most this many (default 100)")
    .action(async (opts, cmd: Command) => (await load()).listBuilds(cmd, opts));
  examples(builds, ["flox builds --state running", "flox builds --org acme --state failed --json"]);

  const build = program
    .command("build")
    .description(
      "build package NAME of this checkout here (or --remote on the server's builders); with a number, show that build",
    )
    .argument("<name-or-id>", "a package name (pkgs/NAME), or a build's number as `flox builds` lists it")
    .option(
      "--remote",
      "build on the server's builders: the work tree is pushed to branch flox-build/NAME -o wait",
    )
    .option("--git-remote <name>", "the git remote --remote pushes to", "origin")
    .option(
      "--nix-bin <dir>",
      "the directory of the Nix to run, e.g. /nix/var/nix/profiles/default/bin (default: $FLOX_NIX_BIN, else PATH)",
    )
    .option(
      "--base <path>",
      "a nixpkgs tree as the base set, as `flox server --base` (default: the server's, else the bootstrap set)",
    )
    .action(async (spec: string, opts, cmd: Command) => {
      // A number is a build's id (as before packages could be built here); `pkgs/123` builds a package named 123.
      if (/^#?[0-9]+$/.test(spec)) return (await load()).showBuild(cmd, spec);
      return (await import("../commands/build-local.js")).buildLocal(cmd, spec, opts);
    });
  build.addHelpText(
    "after",
    `
flox build NAME builds pkgs/NAME of the work tree (committed or not, as \`git add -A\` would see it)
in a chroot Nix store under the checkout's .flox/, with the same evaluation as the server, so the
.drv and output paths are the ones the server's builders make. The build log goes to stderr.
flox build N (a number) shows build N of the server, as it always did; a package whose name is a
number is built with flox build pkgs/N.

Examples:
  flox build hello
  flox build hello --remote
  flox build hello --base ~/src/nixpkgs
  flox build 17
  flox build 17 --json
`,
  );

  const log = program
    .command("log")
    .description("print a build's log; --follow streams it until the build finished")
    .argument("<id>", "the build's number")
    .option("-f, --follow", "keep printing new output until the build finished; exit 1 unless it succeeded")
    .action(async (id: string, opts, cmd: Command) => (await load()).showLog(cmd, id, opts));
  examples(log, ["flox log 17", "flox log 17 --follow"]);

  const cancel = program
    .command("cancel")
    .description("cancel a queued or running build, or with --eval every such build of an evaluation")
    .argument("<id>", "a build number, or an evaluation number with --eval")
    .option("--eval", "the number is an evaluation's")
    .action(async (id: string, opts, cmd: Command) => (await load()).cancel(cmd, id, opts));
  examples(cancel, ["flox cancel 17", "flox cancel --eval 4"]);

  const restart = program
    .command("restart")
    .description(
      "requeue a build that ended without success (and what was waiting for it), or with --eval every such build of an evaluation",
    )
    .argument("<id>", "a build number, or an evaluation number with --eval")
    .option("--eval", "the number is an evaluation's")
    .action(async (id: string, opts, cmd: Command) => (await load()).restart(cmd, id, opts));
  examples(restart, ["flox restart 17", "flox restart --eval 4"]);

  const bump = program
    .command("bump")
    .description("move a queued build ahead of everything queued now (or set its priority)")
    .argument("<id>", "the build's number")
    .option("--priority <n>", "set this priority instead (higher runs first; the default is 0)")
    .action(async (id: string, opts, cmd: Command) => (await load()).bump(cmd, id, opts));
  examples(bump, ["flox bump 17", "flox bump 17 --priority -5"]);

  const builders = program
    .command("builders")
    .description("the builders that called in: connected or not, systems, what each runs now")
    .action(async (_opts, cmd: Command) => (await load()).listBuilders(cmd));
  examples(builders, ["flox builders", "flox builders --json"]);
}
