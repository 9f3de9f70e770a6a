// `flox org activity ORG`: the org's relay activity log — who used the shared Nix daemon, from which host, when,
// and what it asked the farm to build.
import type { Command } from "commander";
import { connect } from "../context.js";
import { shortTime } from "../format.js";
import { CliError, dim, emit, exitCodes } from "../output.js";
import { printTable } from "../table.js";
import { paintState } from "./ci.js";

export async function relayActivity(cmd: Command, org: string, opts: { limit: string }): Promise<void> {
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
    throw new CliError(`--limit ${opts.limit} is not a whole number from 1 to 500`, exitCodes.usage);
  }
  const { client, json } = await connect(cmd);
  const sessions = await client.relaySessions(org, limit);
  emit(json, { sessions }, () =>
    printTable(
      ["session", "who", "host", "address", "started", "ended", "builds"],
      sessions.map((s) => [
        `#${s.id}`,
        s.actor,
        s.host ?? "-",
        s.remoteAddress ?? "-",
        shortTime(s.startedAt),
        s.endedAt ? `${shortTime(s.endedAt)} (${s.endReason ?? "?"})` : "open",
        s.builds.map((b) => `#${b.id} ${paintState(b.state)}${b.withdrawn ? " (hung up)" : ""}`).join(", ") ||
          "-",
      ]),
      dim(`nobody used the shared Nix daemon for ${org} yet (flox daemon, flox nix)`),
    ),
  );
}
