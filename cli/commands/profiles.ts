// flox profile …: named package sets of an org, as numbered generations (Nix user environments).
import { hostname } from "node:os";
import type { Command } from "commander";
import type { Generation, Profile, ProfileEditResponse } from "../../lib/api/profiles.js";
import { connect } from "../context.js";
import { shortTime } from "../format.js";
import { bold, CliError, dim, emit, exitCodes, green, red } from "../output.js";
import { printTable } from "../table.js";
import { parseId } from "./builds.js";

/** `acme/dev` → org acme, profile dev. */
export function splitProfile(spec: string): { org: string; name: string } {
  const m = /^([a-z0-9][a-z0-9-]{0,38})\/([a-z0-9][a-z0-9-]{0,38})$/.exec(spec);
  if (!m?.[1] || !m[2]) {
    throw new CliError(`${JSON.stringify(spec)} is not ORG/PROFILE, e.g. acme/dev`, exitCodes.usage);
  }
  return { org: m[1], name: m[2] };
}

/** Where the change comes from, kept with it on the server. */
function origin(reason: string | undefined) {
  return {
    host: hostname(),
    command: ["flox", ...process.argv.slice(2)].join(" ").slice(0, 2000),
    ...(reason ? { reason } : {}),
  };
}

function printProfile(p: Profile): void {
  const out = process.stdout;
  out.write(
    `${bold(`profile ${p.org}/${p.name}`)}: ${p.current === null ? dim("no generation yet") : `generation ${p.current}`}\n`,
  );
  if (p.storePath) out.write(`  ${dim("store path".padEnd(11))}${p.storePath}\n\n`);
  printTable(
    ["entry", "source", "priority", "out path"],
    p.entries.map((e) => [e.label, e.source, e.priority, e.outputs.out ?? Object.values(e.outputs)[0]]),
    "no entries: flox profile install ORG/PROFILE CHANNEL#attr",
  );
}

function describeChanges(g: Generation): string {
  const c = g.changes;
  const parts = [
    ...c.added.map((a) => green(`+${a}`)),
    ...c.removed.map((a) => red(`-${a}`)),
    ...c.changed.map((a) => `~${a}`),
  ];
  return parts.join(" ") || dim("no change");
}

function printEdit(r: ProfileEditResponse, what: string): void {
  if (!r.generation) {
    process.stdout.write(`${r.profile.org}/${r.profile.name}: ${what}: nothing changed, no new generation\n`);
    return;
  }
  process.stdout.write(
    `${r.profile.org}/${r.profile.name}: generation ${r.generation.number} (${describeChanges(r.generation)}) is live\n  ${r.generation.storePath}\n`,
  );
}

export async function createProfile(cmd: Command, spec: string, opts: { reason?: string }): Promise<void> {
  const { org, name } = splitProfile(spec);
  const { client, json } = await connect(cmd);
  const profile = await client.createProfile(org, { name, ...origin(opts.reason) });
  emit(json, { profile }, () =>
    process.stdout.write(
      `created profile ${org}/${name}; add packages with: flox profile install ${org}/${name} ${org}#hello\n`,
    ),
  );
}

export async function listProfiles(cmd: Command): Promise<void> {
  const { client, json } = await connect(cmd);
  const profiles = await client.listProfiles();
  emit(json, { profiles }, () =>
    printTable(
      ["profile", "generation", "entries", "store path"],
      profiles.map((p) => [
        `${p.org}/${p.name}`,
        p.current,
        p.entries.map((e) => e.label).join(", "),
        p.storePath,
      ]),
      "no profiles yet: flox profile create ORG/NAME",
    ),
  );
}

export async function showProfile(cmd: Command, spec: string): Promise<void> {
  const { org, name } = splitProfile(spec);
  const { client, json } = await connect(cmd);
  const profile = await client.getProfile(org, name);
  emit(json, { profile }, () => printProfile(profile));
}

export async function install(
  cmd: Command,
  spec: string,
  refs: string[],
  opts: { priority?: string; reason?: string },
): Promise<void> {
  const { org, name } = splitProfile(spec);
  const priority = opts.priority === undefined ? undefined : Number(opts.priority);
  if (priority !== undefined && !(Number.isInteger(priority) && /^-?\d+$/.test(opts.priority ?? ""))) {
    throw new CliError(
      `--priority ${opts.priority}: give a whole number (lower wins a file two entries provide)`,
      exitCodes.usage,
    );
  }
  const { client, json } = await connect(cmd);
  const r = await client.editProfile(org, name, "install", {
    refs,
    ...(priority === undefined ? {} : { priority }),
    ...origin(opts.reason),
  });
  emit(json, r, () => printEdit(r, "install"));
}

export async function remove(cmd: Command, spec: string, labels: string[], opts: { reason?: string }) {
  const { org, name } = splitProfile(spec);
  const { client, json } = await connect(cmd);
  const r = await client.editProfile(org, name, "remove", { labels, ...origin(opts.reason) });
  emit(json, r, () => printEdit(r, "remove"));
}

export async function upgrade(cmd: Command, spec: string, opts: { reason?: string }) {
  const { org, name } = splitProfile(spec);
  const { client, json } = await connect(cmd);
  const r = await client.editProfile(org, name, "upgrade", origin(opts.reason));
  emit(json, r, () => printEdit(r, "upgrade"));
}

export async function rollback(cmd: Command, spec: string, opts: { to?: string; reason?: string }) {
  const { org, name } = splitProfile(spec);
  const to = opts.to === undefined ? undefined : parseId(opts.to, "a generation");
  const { client, json } = await connect(cmd);
  const r = await client.editProfile(org, name, "rollback", {
    ...(to === undefined ? {} : { to }),
    ...origin(opts.reason),
  });
  emit(json, r, () =>
    process.stdout.write(
      `${org}/${name}: generation ${r.profile.current} is live again\n  ${r.profile.storePath}\n`,
    ),
  );
}

export async function generations(cmd: Command, spec: string): Promise<void> {
  const { org, name } = splitProfile(spec);
  const { client, json } = await connect(cmd);
  const r = await client.profileGenerations(org, name);
  emit(json, r, () =>
    printTable(
      ["gen", "live", "when", "who", "host", "why", "changes"],
      r.generations.map((g) => [
        g.number,
        g.live ? green("*") : "",
        shortTime(g.createdAt),
        g.madeBy?.author,
        g.madeBy?.host,
        g.madeBy?.reason ?? g.madeBy?.command,
        describeChanges(g),
      ]),
      `${org}/${name} has no generations yet`,
    ),
  );
}

export async function diff(cmd: Command, spec: string, fromText: string, toText: string): Promise<void> {
  const { org, name } = splitProfile(spec);
  const from = parseId(fromText, "a generation");
  const to = parseId(toText, "a generation");
  const { client, json } = await connect(cmd);
  const d = await client.profileDiff(org, name, from, to);
  emit(json, d, () => {
    const lines = [
      ...d.added.map((a) => green(`+ ${a}`)),
      ...d.removed.map((a) => red(`- ${a}`)),
      ...d.changed.map((a) => `~ ${a}`),
    ];
    process.stdout.write(
      `${org}/${name}: generation ${from} → ${to}\n${lines.join("\n") || "no difference"}\n`,
    );
  });
}

/** `30m`, `2h`, `45s`, `90` (seconds), `1d` → seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*(s|m|h|d)?$/.exec(text.trim());
  if (!m?.[1]) {
    throw new CliError(`--jitter ${text}: give a duration like 30m, 2h, 45s or 1d`, exitCodes.usage);
  }
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? "s") as "s" | "m" | "h" | "d"];
  return Number(m[1]) * unit;
}

export async function schedule(
  cmd: Command,
  spec: string,
  opts: { cron?: string; jitter?: string; onPublish?: boolean; off?: boolean },
): Promise<void> {
  const { org, name } = splitProfile(spec);
  const chosen = [opts.cron !== undefined, opts.onPublish === true, opts.off === true].filter(Boolean).length;
  if (chosen > 1) throw new CliError("give one of --cron EXPR, --on-publish, --off", exitCodes.usage);
  if (opts.jitter !== undefined && opts.cron === undefined && !opts.onPublish) {
    throw new CliError("--jitter goes with --cron or --on-publish", exitCodes.usage);
  }
  const { client, json } = await connect(cmd);
  const s =
    chosen === 0
      ? await client.getSchedule(org, name)
      : await client.setSchedule(org, name, {
          kind: opts.off ? "off" : opts.onPublish ? "on-publish" : "cron",
          ...(opts.cron !== undefined ? { cron: opts.cron } : {}),
          ...(opts.jitter !== undefined ? { jitterSeconds: parseDuration(opts.jitter) } : {}),
        });
  emit(json, { schedule: s }, () => {
    const what =
      s.kind === "cron"
        ? `cron ${s.cron}${s.nextRunAt ? `, next ${shortTime(s.nextRunAt)} UTC` : ""}`
        : s.kind === "on-publish"
          ? "on-publish: upgrades as soon as a followed channel advances"
          : "off: upgrades only by hand (flox profile upgrade)";
    const jitter = s.jitterSeconds ? `; machines spread over ${s.jitterSeconds} s` : "";
    process.stdout.write(`${org}/${name}: ${what}${jitter}\n`);
  });
}
