// flox machine register, flox machines, flox subscribe / unsubscribe, flox profile status, flox sync.
import type { Command } from "commander";
import type { Machine, SubscriptionBody } from "../../lib/api/machines.js";
import { runSync } from "../../lib/profile-sync.js";
import { connect } from "../context.js";
import { shortTime } from "../format.js";
import { bold, CliError, dim, emit, exitCodes, green, red } from "../output.js";
import { printTable } from "../table.js";
import { splitProfile } from "./profiles.js";

function describeMachine(m: Machine): string {
  const subs = m.subscriptions.map((s) => (s.kind === "channel" ? `channel ${s.name}` : s.name)).join(", ");
  return `${bold(m.name)} (org ${m.org}): ${subs || dim("follows nothing yet")}`;
}

export async function registerMachine(cmd: Command, name: string): Promise<void> {
  const { client, json } = await connect(cmd);
  const machine = await client.registerMachine(name);
  emit(json, { machine }, () =>
    process.stdout.write(
      `registered machine ${bold(machine.name)} in org ${machine.org}; follow a profile with: flox subscribe ${machine.org}/PROFILE\n`,
    ),
  );
}

/** `flox subscribe acme/dev` or `flox subscribe --channel acme`: exactly one. */
function target(cmd: Command, profile: string | undefined, channel: string | undefined): SubscriptionBody {
  if ((profile === undefined) === (channel === undefined)) {
    cmd.error("error: give a profile (ORG/NAME) or --channel ORG[/BRANCH], one of them", {
      exitCode: exitCodes.usage,
      code: "flox.usage",
    });
  }
  if (profile !== undefined) {
    const { org, name } = splitProfile(profile);
    return { profile: `${org}/${name}` };
  }
  return { channel: channel as string };
}

export async function subscribe(cmd: Command, profile: string | undefined, opts: { channel?: string }) {
  const body = target(cmd, profile, opts.channel);
  const { client, json } = await connect(cmd);
  const machine = await client.subscribe(body);
  emit(json, { machine }, () => process.stdout.write(`${describeMachine(machine)}\n`));
}

export async function unsubscribe(cmd: Command, profile: string | undefined, opts: { channel?: string }) {
  const body = target(cmd, profile, opts.channel);
  const { client, json } = await connect(cmd);
  const machine = await client.unsubscribe(body);
  emit(json, { machine }, () => process.stdout.write(`${describeMachine(machine)}\n`));
}

export async function listMachines(cmd: Command): Promise<void> {
  const { client, json } = await connect(cmd);
  const machines = await client.listMachines();
  emit(json, { machines }, () =>
    printTable(
      ["machine", "org", "connected", "last seen", "follows", "runs"],
      machines.map((m) => [
        m.name,
        m.org,
        m.connected ? green("yes") : "no",
        shortTime(m.lastSeen),
        m.subscriptions.map((s) => (s.kind === "channel" ? `channel ${s.name}` : s.name)).join(", "),
        m.profiles
          .map(
            (p) =>
              `${p.profile}@${p.running ?? "-"}${p.status === "failed" ? red(` (gen ${p.generation} failed)`) : ""}`,
          )
          .join(", "),
      ]),
      "no machines yet: on a machine, flox machine register NAME (with a machine token)",
    ),
  );
}

export async function profileStatus(cmd: Command, spec: string): Promise<void> {
  const { org, name } = splitProfile(spec);
  const { client, json } = await connect(cmd);
  const status = await client.profileStatus(org, name);
  emit(json, { status }, () => {
    const out = process.stdout;
    const s = status.summary;
    out.write(
      `${bold(`profile ${status.profile}`)}: ${status.live === null ? dim("no generation yet") : `generation ${status.live} is live`}\n`,
    );
    if (status.storePath) out.write(`  ${dim("store path".padEnd(11))}${status.storePath}\n`);
    out.write(
      `  ${s.machines} machine${s.machines === 1 ? "" : "s"}: ${s.onLive} on the live generation, ${s.lagging} lagging, ${s.failed} failed\n`,
    );
    for (const c of status.counts) {
      out.write(
        `  ${dim("generation".padEnd(11))}${c.generation ?? "none yet"}: ${c.machines} machine${c.machines === 1 ? "" : "s"}\n`,
      );
    }
    out.write("\n");
    printTable(
      ["machine", "runs", "state", "last report", "last seen", "message"],
      status.machines.map((m) => [
        m.machine,
        m.running,
        m.status === "failed" ? red(`failed (gen ${m.generation})`) : m.lagging ? "lagging" : green("live"),
        shortTime(m.reportedAt),
        m.connected ? "connected" : shortTime(m.lastSeen),
        m.message,
      ]),
      "no machine follows it: on a machine, flox subscribe PROFILE",
    );
  });
}

export async function sync(cmd: Command, opts: { profilesDir: string; once?: boolean }): Promise<void> {
  const { connection } = await connect(cmd);
  const abort = new AbortController();
  const stop = () => {
    process.once("SIGTERM", () => process.exit(130));
    process.once("SIGINT", () => process.exit(130));
    abort.abort();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const code = await runSync({
    server: connection.server,
    token: connection.token ?? "",
    profilesDir: opts.profilesDir,
    once: opts.once === true,
    signal: abort.signal,
    ...(process.env.FLOX_SYNC_SILENCE_MS ? { silenceMs: Number(process.env.FLOX_SYNC_SILENCE_MS) } : {}),
  });
  if (code !== 0) throw new CliError("flox sync stopped (see above)", code);
}
