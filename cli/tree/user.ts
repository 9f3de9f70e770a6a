// `flox user …`: users (admin). Actions import their module on demand.
import type { Command } from "commander";
import { examples } from "./help.js";

export function registerUser(program: Command): void {
  const user = program.command("user").description("create and list users (admin)");
  examples(user, ["flox user create alice", "flox user list"]);

  const create = user
    .command("create")
    .description("create a user; add them to orgs with `flox org member add`")
    .argument("<name>", "user name: a-z, 0-9 and '-', up to 39 characters")
    .action(async (name: string, _opts, cmd: Command) =>
      (await import("../commands/user.js")).createUser(cmd, name),
    );
  examples(create, ["flox user create alice", "flox token create --user alice --name laptop"]);

  const list = user
    .command("list")
    .description("list all users")
    .action(async (_opts, cmd: Command) => (await import("../commands/user.js")).listUsers(cmd));
  examples(list, ["flox user list", "flox user list --json"]);
}
