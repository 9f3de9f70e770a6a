// flox pushes ORG.
import type { Command } from "commander";
import { connect } from "../context.js";
import { shortSha, shortTime } from "../format.js";
import { emit } from "../output.js";
import { printTable } from "../table.js";

export async function listPushes(cmd: Command, org: string): Promise<void> {
  const { client, json } = await connect(cmd);
  const pushes = await client.listPushes(org);
  emit(json, { pushes }, () =>
    printTable(
      ["id", "ref", "change", "options", "source", "received"],
      pushes.map((p) => [
        p.id,
        p.ref.replace(/^refs\/heads\//, ""),
        `${shortSha(p.oldSha)}..${shortSha(p.newSha)}`,
        p.pushOptions.join(" "),
        p.source,
        shortTime(p.receivedAt),
      ]),
      `no pushes to ${org} yet`,
    ),
  );
}
