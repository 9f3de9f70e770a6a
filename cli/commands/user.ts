// flox user create / list.
import type { Command } from "commander";
import { connect } from "../context.js";
import { shortTime } from "../format.js";
import { bold, emit, green } from "../output.js";
import { printTable } from "../table.js";

export async function createUser(cmd: Command, name: string): Promise<void> {
  const { client, json } = await connect(cmd);
  const user = await client.createUser(name);
  emit(json, { user }, () => {
    process.stdout.write(`${green("created")} user ${bold(user.name)}\n\nNext steps:\n`);
    process.stdout.write(`  flox org member add ORG ${user.name} --role member\n`);
    process.stdout.write(`  flox token create --user ${user.name}\n`);
  });
}

export async function listUsers(cmd: Command): Promise<void> {
  const { client, json } = await connect(cmd);
  const users = await client.listUsers();
  emit(json, { users }, () =>
    printTable(
      ["name", "created"],
      users.map((u) => [u.name, shortTime(u.createdAt)]),
      "no users yet (create one with `flox user create NAME`)",
    ),
  );
}
