// `flox token …`: API, git, builder and machine tokens. Actions import their module on demand.
import { type Command, Option } from "commander";
import { examples, roles } from "./help.js";

export function registerToken(program: Command): void {
  const token = program.command("token").description("create, list and revoke API and git tokens");
  examples(token, [
    "flox token create --org acme --role member --name ci",
    "flox token list",
    "flox token revoke 7",
  ]);

  const create = token
    .command("create")
    .description("create a token; its secret is printed once and never again")
    .option("--org <org>", "a token for one org (needs --role)")
    .addOption(new Option("--role <role>", "the --org token's role: owner, member or reader").choices(roles))
    .addOption(new Option("--admin", "a token that may do everything").conflicts(["org", "role", "user"]))
    .addOption(
      new Option("--builder", "a token for a build agent (`flox builder`)").conflicts([
        "org",
        "role",
        "user",
      ]),
    )
    .addOption(
      new Option(
        "--machine",
        "a token for a machine of --org ORG (flox machine register, flox sync)",
      ).conflicts(["role", "user"]),
    )
    .addOption(
      new Option("--user <user>", "a token that acts as this user, with their org roles").conflicts("org"),
    )
    .option("--name <label>", 'a label to tell tokens apart, e.g. "ci" or "alice laptop"')
    .action(async (_opts, cmd: Command) => (await import("../commands/token.js")).createToken(cmd));
  create.addHelpText(
    "after",
    `
Give exactly one of: --org ORG --role ROLE, --admin, --builder, --machine --org ORG, --user USER.
Org owners may create org and machine tokens for their own org; everything else needs an admin token.

Examples:
  flox token create --org acme --role member --name ci
  flox token create --org acme --role reader
  flox token create --user alice --name "alice laptop"
  flox token create --builder --name builder-1
  flox token create --machine --org acme --name web-1
  flox token create --admin --json
`,
  );

  const list = token
    .command("list")
    .description("list tokens (admin: all; org owner: the org's); secrets are never shown again")
    .action(async (_opts, cmd: Command) => (await import("../commands/token.js")).listTokens(cmd));
  examples(list, ["flox token list", "flox token list --json"]);

  const revoke = token
    .command("revoke")
    .description("revoke a token at once: git and API requests with it fail from now on")
    .argument("<id>", "the token's id, from `flox token list`")
    .action(async (id: string, _opts, cmd: Command) =>
      (await import("../commands/token.js")).revokeToken(cmd, id),
    );
  examples(revoke, ["flox token revoke 7"]);
}
