// `flox org …`: orgs and their members. Actions import their module on demand.
import { type Command, Option } from "commander";
import { examples, roles } from "./help.js";

export function registerOrg(program: Command): void {
  const org = program
    .command("org")
    .description("create and inspect orgs (one git repo each) and their members");
  examples(org, ["flox org create acme", "flox org list", "flox org member add acme alice --role member"]);

  const create = org
    .command("create")
    .description("create an org and its empty git repo (admin)")
    .argument("<name>", "org name: a-z, 0-9 and '-', up to 39 characters")
    .option("--display-name <text>", "a human-friendly name, shown in lists")
    .option("--public", "anyone may read its CI pages, badges, channels and build logs (default: private)")
    .action(async (name: string, _opts, cmd: Command) =>
      (await import("../commands/org.js")).createOrg(cmd, name),
    );
  examples(create, [
    "flox org create acme",
    'flox org create acme --display-name "Acme Corp"',
    "flox org create oss --public",
  ]);

  const set = org
    .command("set")
    .description(
      "make an org public or private, or set its Storehouse retention and quota (admin or org owner)",
    )
    .argument("<name>", "org name")
    .option("--public", "anyone may read its CI pages, badges, channels and build logs, without a token")
    .option("--private", "only tokens with a role in the org see it; to anyone else it does not exist")
    .option(
      "--keep-evaluations <n>",
      "GC keeps the outputs of the newest N evaluations of each jobset (default 3)",
    )
    .option(
      "--keep-channel-days <d>",
      "GC keeps every channel point of the last D days, the current always (default 30)",
    )
    .option(
      "--quota <size>",
      'Storehouse bytes the org may keep after GC, e.g. 50G; "none" removes it (admin)',
    )
    .addOption(
      new Option(
        "--machine-builds <on|off>",
        "its machine tokens may build through the shared Nix daemon (default off)",
      ).choices(["on", "off"]),
    )
    .action(async (name: string, _opts, cmd: Command) =>
      (await import("../commands/org.js")).setOrg(cmd, name),
    );
  examples(set, [
    "flox org set oss --public",
    "flox org set acme --private",
    "flox org set acme --keep-evaluations 10 --keep-channel-days 90",
    "flox org set acme --quota 50G",
    "flox org set acme --machine-builds on",
  ]);

  const activity = org
    .command("activity")
    .description("who used the shared Nix daemon for an org, from which host, and what it built (member)")
    .argument("<name>", "org name")
    .option("--limit <n>", "newest this many connections", "50")
    .action(async (name: string, opts: { limit: string }, cmd: Command) =>
      (await import("../commands/relay-activity.js")).relayActivity(cmd, name, opts),
    );
  examples(activity, ["flox org activity acme", "flox org activity acme --json"]);

  const list = org
    .command("list")
    .description("list the orgs this token may read, and the public ones")
    .action(async (_opts, cmd: Command) => (await import("../commands/org.js")).listOrgs(cmd));
  examples(list, ["flox org list", "flox org list --json"]);

  const show = org
    .command("show")
    .description("show an org and its repo URL")
    .argument("<name>", "org name")
    .action(async (name: string, _opts, cmd: Command) =>
      (await import("../commands/org.js")).showOrg(cmd, name),
    );
  examples(show, ["flox org show acme"]);

  const member = org.command("member").description("manage who belongs to an org, and with which role");
  examples(member, ["flox org member add acme alice --role owner", "flox org member list acme"]);

  const add = member
    .command("add")
    .description("add a user to an org, or change their role there (admin or org owner)")
    .argument("<org>", "org name")
    .argument("<user>", "user name (create it first with `flox user create`)")
    .addOption(new Option("--role <role>", "owner, member or reader").choices(roles).makeOptionMandatory())
    .action(async (orgName: string, user: string, _opts, cmd: Command) =>
      (await import("../commands/org.js")).addMember(cmd, orgName, user),
    );
  add.addHelpText(
    "after",
    `
Roles: owner (manage members and tokens, push), member (push, fetch), reader (fetch).

Examples:
  flox org member add acme alice --role member
  flox org member add acme alice --role owner      changes alice's role
`,
  );

  const memberList = member
    .command("list")
    .description("list an org's members and their roles")
    .argument("<org>", "org name")
    .action(async (orgName: string, _opts, cmd: Command) =>
      (await import("../commands/org.js")).listMembers(cmd, orgName),
    );
  examples(memberList, ["flox org member list acme", "flox org member list acme --json"]);

  const remove = member
    .command("remove")
    .description("remove a user from an org (admin or org owner)")
    .argument("<org>", "org name")
    .argument("<user>", "user name")
    .action(async (orgName: string, user: string, _opts, cmd: Command) =>
      (await import("../commands/org.js")).removeMember(cmd, orgName, user),
    );
  examples(remove, ["flox org member remove acme alice"]);
}
