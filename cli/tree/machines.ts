// `flox machine …`, `machines`, `subscribe`, `unsubscribe`, `sync`: machines that follow profiles and channels. Actions import their module on demand.
import type { Command } from "commander";
import { examples } from "./help.js";

export function registerMachines(program: Command): void {
  const load = () => import("../commands/machines.js");
  const machine = program
    .command("machine")
    .description("this machine's registration (with a machine token)");
  examples(machine, ["flox machine register web-1"]);
  const register = machine
    .command("register")
    .description("register this machine under NAME; its token binds it to one org")
    .argument("<name>", "the machine's name, e.g. its host name")
    .action(async (name: string, _opts, cmd: Command) => (await load()).registerMachine(cmd, name));
  register.addHelpText(
    "after",
    `
Needs a machine token: an org owner makes one with flox token create --machine --org ORG. The machine
may then follow that org's profiles and channels (flox subscribe), and nothing else.

Examples:
  FLOX_TOKEN=flox_… flox machine register web-1
`,
  );
  const machines = program
    .command("machines")
    .description("the machines of the orgs this token may read: what each follows and runs")
    .action(async (_opts, cmd: Command) => (await load()).listMachines(cmd));
  examples(machines, ["flox machines", "flox machines --json"]);
  const subscribe = program
    .command("subscribe")
    .description("make this machine follow a profile (or --channel a channel) of its org")
    .argument("[profile]", "ORG/NAME")
    .option("--channel <channel>", "follow a channel instead: ORG or ORG/BRANCH")
    .action(async (spec: string | undefined, opts, cmd: Command) =>
      (await load()).subscribe(cmd, spec, opts),
    );
  examples(subscribe, ["flox subscribe acme/dev", "flox subscribe --channel acme"]);
  const unsubscribe = program
    .command("unsubscribe")
    .description("stop following a profile (or --channel a channel); its links stay as they are")
    .argument("[profile]", "ORG/NAME")
    .option("--channel <channel>", "a channel instead: ORG or ORG/BRANCH")
    .action(async (spec: string | undefined, opts, cmd: Command) =>
      (await load()).unsubscribe(cmd, spec, opts),
    );
  examples(unsubscribe, ["flox unsubscribe acme/dev", "flox unsubscribe --channel acme"]);
  const sync = program
    .command("sync")
    .description(
      "keep PROFILES_DIR/ORG/PROFILE on each followed profile's live generation, switched atomically",
    )
    .requiredOption("--profiles-dir <dir>", "where the profile links live (created if missing)")
    .option("--once", "catch up, then exit (1 if a switch failed) instead of following")
    .action(async (opts, cmd: Command) => (await load()).sync(cmd, opts));
  sync.addHelpText(
    "after",
    `
Needs the machine's token (--token, FLOX_TOKEN or flox login). Follows the server's event stream,
reconnecting with backoff and resuming after the last event seen (kept in DIR/.flox-sync.json). For
each profile it keeps DIR/ORG/NAME -> NAME-N-link -> /nix/store/…-user-environment, as Nix keeps
profiles, and reports each switch (flox profile status). It does not fetch store paths.

Examples:
  flox sync --server http://flox.internal:8080 --token flox_… --profiles-dir /var/lib/flox/profiles
  flox sync --profiles-dir ./profiles --once
`,
  );
}
