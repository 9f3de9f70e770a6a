// `flox profile …`: profiles, their generations and upgrade schedules. Actions import their module on demand.
import type { Command } from "commander";
import { examples } from "./help.js";

export function registerProfiles(program: Command): void {
  const load = () => import("../commands/profiles.js");
  const profile = program
    .command("profile")
    .description("named package sets of an org, rolled out as numbered generations")
    .addHelpText(
      "after",
      `
A profile is ORG/NAME. Entries follow a channel attribute (CHANNEL#attr: upgrades move them) or pin a
store path. Each change makes a generation: a Nix user environment in the Storehouse, the same store
path on every machine. Every change is recorded with its author, host, command and --reason.

Examples:
  flox profile create acme/dev
  flox profile install acme/dev acme#hello acme#wordcount
  flox profile generations acme/dev
`,
    );
  const reason = ["--reason <text>", "why, kept with the change"] as const;
  const create = profile
    .command("create")
    .description("make an empty profile")
    .argument("<profile>", "ORG/NAME")
    .option(...reason)
    .action(async (spec: string, opts, cmd: Command) => (await load()).createProfile(cmd, spec, opts));
  examples(create, ["flox profile create acme/dev --reason 'developer tools'"]);
  const list = profile
    .command("list")
    .description("the profiles of the orgs this token may read")
    .action(async (_opts, cmd: Command) => (await load()).listProfiles(cmd));
  examples(list, ["flox profile list", "flox profile list --json"]);
  const show = profile
    .command("show")
    .description("the live generation: its store path and entries")
    .argument("<profile>", "ORG/NAME")
    .action(async (spec: string, _opts, cmd: Command) => (await load()).showProfile(cmd, spec));
  examples(show, ["flox profile show acme/dev"]);
  const install = profile
    .command("install")
    .description("add packages (or replace entries of the same name); makes a generation")
    .argument("<profile>", "ORG/NAME")
    .argument("<refs...>", "CHANNEL#attr to follow (acme#hello, acme/staging#hello) or /nix/store/… to pin")
    .option("--priority <n>", "lower wins a file two entries provide (default 5)")
    .option(...reason)
    .action(async (spec: string, refs: string[], opts, cmd: Command) =>
      (await load()).install(cmd, spec, refs, opts),
    );
  examples(install, [
    "flox profile install acme/dev acme#hello",
    "flox profile install acme/dev /nix/store/…-tool --priority 4",
  ]);
  const remove = profile
    .command("remove")
    .description("drop entries by name; makes a generation")
    .argument("<profile>", "ORG/NAME")
    .argument("<entries...>", "entry names as `flox profile show` lists them")
    .option(...reason)
    .action(async (spec: string, labels: string[], opts, cmd: Command) =>
      (await load()).remove(cmd, spec, labels, opts),
    );
  examples(remove, ["flox profile remove acme/dev hello"]);
  const upgrade = profile
    .command("upgrade")
    .description("re-resolve followed entries now; a generation only when something moved")
    .argument("<profile>", "ORG/NAME")
    .option(...reason)
    .action(async (spec: string, opts, cmd: Command) => (await load()).upgrade(cmd, spec, opts));
  examples(upgrade, ["flox profile upgrade acme/dev"]);
  const rollback = profile
    .command("rollback")
    .description("make the previous generation live again (or --to N), as nix-env --rollback does")
    .argument("<profile>", "ORG/NAME")
    .option("--to <n>", "the generation to make live")
    .option(...reason)
    .action(async (spec: string, opts, cmd: Command) => (await load()).rollback(cmd, spec, opts));
  examples(rollback, ["flox profile rollback acme/dev", "flox profile rollback acme/dev --to 3"]);
  const gens = profile
    .command("generations")
    .description("every generation: when, who, from which host, why, and what changed")
    .argument("<profile>", "ORG/NAME")
    .action(async (spec: string, _opts, cmd: Command) => (await load()).generations(cmd, spec));
  examples(gens, ["flox profile generations acme/dev", "flox profile generations acme/dev --json"]);
  const diff = profile
    .command("diff")
    .description("what differs between two generations")
    .argument("<profile>", "ORG/NAME")
    .argument("<from>", "generation number")
    .argument("<to>", "generation number")
    .action(async (spec: string, from: string, to: string, _opts, cmd: Command) =>
      (await load()).diff(cmd, spec, from, to),
    );
  examples(diff, ["flox profile diff acme/dev 3 5"]);
  const schedule = profile
    .command("schedule")
    .description("show or set when followed entries are upgraded: on-publish (default), cron, or off")
    .argument("<profile>", "ORG/NAME")
    .option(
      "--cron <expr>",
      "upgrade at these times (5 fields, or 6 with seconds first); missed runs are made up",
    )
    .option(
      "--jitter <duration>",
      "machines apply a new generation after their own random delay up to this (30m, 2h)",
    )
    .option("--on-publish", "upgrade as soon as a followed channel advances (the default)")
    .option("--off", "upgrade only by hand")
    .action(async (spec: string, opts, cmd: Command) => (await load()).schedule(cmd, spec, opts));
  examples(schedule, [
    "flox profile schedule acme/dev",
    "flox profile schedule acme/dev --cron '0 4 * * *' --jitter 30m",
    "flox profile schedule acme/dev --on-publish",
    "flox profile schedule acme/dev --off",
  ]);
  const status = profile
    .command("status")
    .description("the rollout: how many machines run which generation, who lags, who failed")
    .argument("<profile>", "ORG/NAME")
    .action(async (spec: string, _opts, cmd: Command) =>
      (await import("../commands/machines.js")).profileStatus(cmd, spec),
    );
  examples(status, ["flox profile status acme/dev", "flox profile status acme/dev --json"]);
}
