// flox token create / list / revoke.
import type { Command } from "commander";
import type { Role } from "../../lib/api/orgs.js";
import type { CreateTokenBody, TokenInfo } from "../../lib/api/tokens.js";
import { connect } from "../context.js";
import { describeScope, shortTime } from "../format.js";
import { bold, dim, emit, green, red } from "../output.js";
import { printTable } from "../table.js";

interface CreateOptions {
  org?: string;
  role?: Role;
  admin?: boolean;
  builder?: boolean;
  machine?: boolean;
  user?: string;
  name?: string;
}

/** Turns the flags into a request body, or stops with a usage error (exit 2) that says what to give. */
export function tokenBodyFromOptions(opts: CreateOptions): CreateTokenBody | string {
  const chosen = [
    opts.org !== undefined && !opts.machine && "--org",
    opts.admin && "--admin",
    opts.builder && "--builder",
    opts.machine && "--machine",
    opts.user !== undefined && "--user",
  ].filter((x): x is string => typeof x === "string");
  const oneOf = "give one of --org ORG --role ROLE, --admin, --builder, --machine --org ORG, --user USER";
  if (chosen.length === 0) return `which kind of token? ${oneOf}`;
  if (chosen.length > 1) return `${chosen.join(" and ")} cannot be combined: ${oneOf}`;
  if (opts.role !== undefined && opts.org === undefined) return "--role goes with --org ORG";
  const name = opts.name ? { name: opts.name } : {};
  if (opts.machine) {
    if (opts.org === undefined)
      return "--machine needs --org ORG: a machine follows the profiles and channels of one org";
    return { scope: "machine", org: opts.org, ...name };
  }
  if (opts.org !== undefined) {
    if (opts.role === undefined) return `--org ${opts.org} needs --role owner, member or reader`;
    return { scope: "org", org: opts.org, role: opts.role, ...name };
  }
  if (opts.user !== undefined) return { scope: "user", user: opts.user, ...name };
  if (opts.admin) return { scope: "admin", ...name };
  return { scope: "builder", ...name };
}

export async function createToken(cmd: Command): Promise<void> {
  const body = tokenBodyFromOptions(cmd.opts<CreateOptions>());
  if (typeof body === "string") cmd.error(`error: ${body}`, { exitCode: 2, code: "flox.usage" });
  const { client, connection, json } = await connect(cmd);
  const { token, secret } = await client.createToken(body as CreateTokenBody);
  emit(json, { token, secret }, () => {
    const out = process.stdout;
    out.write(
      `${green("created")} token ${bold(String(token.id))}${token.name ? ` "${token.name}"` : ""}: ${describeScope(token)}\n\n`,
    );
    out.write(`${bold("secret")} ${dim("(shown only this once: store it now)")}\n\n  ${secret}\n\n`);
    out.write("Use it:\n");
    for (const line of usageLines(connection.server, token, secret)) out.write(`  ${line}\n`);
  });
}

function usageLines(server: string, token: TokenInfo, secret: string): string[] {
  const env = `export FLOX_TOKEN=${secret}`;
  switch (token.scope) {
    case "org":
      return [`git clone ${cloneUrl(server, token.org ?? "ORG", secret)}`, env];
    case "user":
    case "admin":
      return [`git clone ${cloneUrl(server, "ORG", secret)}`, env];
    case "builder":
      return [env, dim("# then start a build agent with it (flox builder)")];
    case "machine":
      return [
        env,
        dim("# then, on the machine: flox machine register NAME && flox subscribe ORG/PROFILE"),
        dim("#   and keep its profiles current: flox sync --profiles-dir DIR"),
      ];
  }
}

// git takes the token as the HTTP basic password; the user name is ignored by the server.
function cloneUrl(server: string, org: string, secret: string): string {
  const url = new URL(server);
  url.username = "x";
  url.password = secret;
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/${org}/nixexprs.git`;
  return url.toString();
}

export async function listTokens(cmd: Command): Promise<void> {
  const { client, json } = await connect(cmd);
  const tokens = await client.listTokens();
  emit(json, { tokens }, () =>
    printTable(
      ["id", "name", "scope", "prefix", "created", "last used", "status"],
      tokens.map((t) => [
        t.id,
        t.name,
        describeScope(t),
        `${t.prefix}…`,
        shortTime(t.createdAt),
        shortTime(t.lastUsedAt),
        t.revokedAt ? red(`revoked ${shortTime(t.revokedAt)}`) : "active",
      ]),
      "no tokens",
    ),
  );
}

export async function revokeToken(cmd: Command, idText: string): Promise<void> {
  if (!/^[1-9]\d*$/.test(idText)) {
    cmd.error(`error: token id must be a number (see \`flox token list\`), got ${JSON.stringify(idText)}`, {
      exitCode: 2,
      code: "flox.usage",
    });
  }
  const id = Number(idText);
  const { client, json } = await connect(cmd);
  await client.revokeToken(id);
  emit(json, { revoked: id }, () => process.stdout.write(`${green("revoked")} token ${bold(String(id))}\n`));
}
