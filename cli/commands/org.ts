// flox org create / set / list / show, and flox org member add / list / remove.
import type { Command } from "commander";
import type { Org, Role } from "../../lib/api/orgs.js";
import { connect } from "../context.js";
import { shortTime } from "../format.js";
import { bold, CliError, dim, emit, exitCodes, green } from "../output.js";
import { printTable } from "../table.js";
import { type RetentionFlags, retentionChange, setRetention } from "./org-retention.js";

export async function createOrg(cmd: Command, name: string): Promise<void> {
  const { client, json } = await connect(cmd);
  const { displayName, public: isPublic } = cmd.opts<{ displayName?: string; public?: boolean }>();
  const org = await client.createOrg({
    name,
    ...(displayName ? { displayName } : {}),
    ...(isPublic ? { public: true } : {}),
  });
  emit(json, { org }, () => {
    const out = process.stdout;
    out.write(
      `${green("created")} org ${bold(org.name)}${org.displayName !== org.name ? ` (${org.displayName})` : ""}\n`,
    );
    out.write(`repo: ${org.repoUrl}\n`);
    out.write(`${visibility(org)}\n\n`);
    out.write("Next steps:\n");
    out.write(`  ${dim("# a token to push with (the secret is shown once)")}\n`);
    out.write(`  flox token create --org ${org.name} --role member --name push\n`);
    out.write(`  ${dim("# in your nixexprs checkout; git asks for a password: give the token")}\n`);
    out.write(`  git remote add flox ${org.repoUrl}\n`);
    out.write("  git push flox main\n");
  });
}

export async function listOrgs(cmd: Command): Promise<void> {
  const { client, json } = await connect(cmd);
  const orgs = await client.listOrgs();
  emit(json, { orgs }, () =>
    printTable(
      ["name", "display name", "repo", "created"],
      orgs.map((o) => [o.name, o.displayName, o.repoUrl, shortTime(o.createdAt)]),
      "no orgs yet (an admin creates one with `flox org create NAME`)",
    ),
  );
}

const visibility = (org: Org) =>
  org.public
    ? "public: anyone may read its CI pages, badges, channels and build logs"
    : "private: only tokens with a role in it see it";

export async function setOrg(cmd: Command, name: string): Promise<void> {
  const opts = cmd.opts<
    { public?: boolean; private?: boolean; machineBuilds?: "on" | "off" } & RetentionFlags
  >();
  const retention = retentionChange(opts);
  if (retention && !opts.public && !opts.private && !opts.machineBuilds)
    return setRetention(cmd, name, retention);
  if ((opts.public && opts.private) || (!opts.public && !opts.private && !opts.machineBuilds)) {
    throw new CliError(
      "say one of --public or --private, --machine-builds on|off, or a retention flag (e.g. `flox org set acme --public`, `flox org set acme --keep-evaluations 5`)",
      exitCodes.usage,
    );
  }
  const { client, json } = await connect(cmd);
  if (retention) await client.setRetention(name, retention);
  const org = await client.updateOrg(name, {
    ...(opts.public || opts.private ? { public: opts.public === true } : {}),
    ...(opts.machineBuilds ? { machineBuilds: opts.machineBuilds === "on" } : {}),
  });
  emit(json, { org }, () => {
    process.stdout.write(`${green("ok")}: ${bold(org.name)} is ${visibility(org)}\n`);
    if (opts.machineBuilds) {
      process.stdout.write(
        `  machine builds ${org.machineBuilds ? "on: its machine tokens may build through the shared Nix daemon" : "off: only members build through the shared Nix daemon"}\n`,
      );
    }
  });
}

export async function showOrg(cmd: Command, name: string): Promise<void> {
  const { client, json } = await connect(cmd);
  const org = await client.getOrg(name);
  emit(json, { org }, () => printOrg(org));
}

function printOrg(org: Org): void {
  const rows: [string, string][] = [
    ["name", org.name],
    ["display name", org.displayName],
    ["repo", org.repoUrl],
    ["visibility", org.public ? "public" : "private"],
    ["created", shortTime(org.createdAt)],
  ];
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(13)} ${v}\n`);
}

export async function addMember(cmd: Command, org: string, user: string): Promise<void> {
  const { client, json } = await connect(cmd);
  const { role } = cmd.opts<{ role: Role }>();
  const member = await client.setMember(org, user, role);
  emit(json, { member }, () => {
    process.stdout.write(`${green("ok")}: ${bold(member.user)} is ${member.role} of ${bold(member.org)}\n`);
  });
}

export async function listMembers(cmd: Command, org: string): Promise<void> {
  const { client, json } = await connect(cmd);
  const members = await client.listMembers(org);
  emit(json, { members }, () =>
    printTable(
      ["user", "role"],
      members.map((m) => [m.user, m.role]),
      `${org} has no members yet (add one with \`flox org member add ${org} USER --role member\`)`,
    ),
  );
}

export async function removeMember(cmd: Command, org: string, user: string): Promise<void> {
  const { client, json } = await connect(cmd);
  await client.removeMember(org, user);
  emit(json, { removed: { org, user } }, () => {
    process.stdout.write(`${green("removed")} ${bold(user)} from ${bold(org)}\n`);
  });
}
