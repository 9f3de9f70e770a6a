// flox channels, flox channel show|history|pin|unpin: where each branch's channel points, and moving it by hand.
import type { Command } from "commander";
import type { Channel } from "../../lib/api/channels.js";
import { connect } from "../context.js";
import { shortSha, shortTime } from "../format.js";
import { bold, dim, emit } from "../output.js";
import { printTable } from "../table.js";
import { parseId } from "./builds.js";

function where(c: Pick<Channel, "current" | "pinned">): string {
  if (!c.current) return dim("no green evaluation yet");
  return `evaluation #${c.current.evaluation} at ${shortSha(c.current.commitSha)}${c.pinned ? " (pinned)" : ""}`;
}

export async function listChannels(cmd: Command): Promise<void> {
  const { client, json } = await connect(cmd);
  const channels = await client.listChannels();
  emit(json, { channels }, () =>
    printTable(
      ["channel", "points at", "since", "url"],
      channels.map((c) => [c.name, where(c), shortTime(c.current?.createdAt), c.url]),
      "no channels yet (every pushed branch publishes one once an evaluation is green)",
    ),
  );
}

export async function showChannel(cmd: Command, name: string): Promise<void> {
  const { client, json } = await connect(cmd);
  const channel = await client.getChannel(name);
  emit(json, { channel }, () => {
    const out = process.stdout;
    out.write(`${bold(`channel ${channel.name}`)}: ${where(channel)}\n`);
    out.write(`  ${dim("url".padEnd(10))}${channel.url}\n`);
    out.write(
      `  ${dim("use".padEnd(10))}nix-channel --add ${channel.url} ${channel.org} && nix-channel --update\n`,
    );
    if (channel.current) out.write(`  ${dim("since".padEnd(10))}${shortTime(channel.current.createdAt)}\n`);
    out.write("\n");
    printTable(
      ["package", "out path"],
      Object.entries(channel.packages).map(([attr, path]) => [attr, path]),
      "no packages",
    );
  });
}

export async function channelHistory(cmd: Command, name: string): Promise<void> {
  const { client, json } = await connect(cmd);
  const history = await client.channelHistory(name);
  emit(json, { history }, () =>
    printTable(
      ["point", "evaluation", "commit", "how", "by", "when"],
      history.map((p) => [
        `#${p.id}`,
        `#${p.evaluation}`,
        shortSha(p.commitSha),
        p.reason,
        p.actor ?? "CI",
        shortTime(p.createdAt),
      ]),
      `channel ${name} has not been published yet`,
    ),
  );
}

export async function pinChannel(cmd: Command, name: string, opts: { eval: string }): Promise<void> {
  const evaluation = parseId(opts.eval, "an evaluation");
  const { client, json } = await connect(cmd);
  const channel = await client.pinChannel(name, evaluation);
  emit(json, { channel }, () =>
    process.stdout.write(
      `channel ${channel.name}: ${where(channel)}; it stays there until \`flox channel unpin ${channel.name}\`\n`,
    ),
  );
}

export async function unpinChannel(cmd: Command, name: string): Promise<void> {
  const { client, json } = await connect(cmd);
  const channel = await client.unpinChannel(name);
  emit(json, { channel }, () =>
    process.stdout.write(`channel ${channel.name}: follows CI again; now ${where(channel)}\n`),
  );
}
