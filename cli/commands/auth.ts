// flox login / logout / whoami.
import type { Command } from "commander";
import { ApiClient } from "../../lib/api/client.js";
import { ApiError } from "../../lib/api/errors.js";
import {
  configPath,
  normalizeServerUrl,
  readSavedLogin,
  removeSavedLogin,
  type Source,
  saveLogin,
} from "../../lib/cli-config.js";
import { connect, globals } from "../context.js";
import { describeScope, shortTime } from "../format.js";
import { bold, CliError, dim, emit, green } from "../output.js";
import { readSecret } from "../read-secret.js";

export async function login(cmd: Command, url: string): Promise<void> {
  const opts = globals(cmd);
  const server = normalizeServerUrl(url);
  let token = opts.token || process.env.FLOX_TOKEN;
  if (!token) token = await readSecret(`token for ${server}: `);
  if (!token) {
    throw new CliError("no token given: pass --token TOKEN, set FLOX_TOKEN, or type it at the prompt");
  }

  const client = new ApiClient({ server, token });
  let info: Awaited<ReturnType<ApiClient["whoami"]>>;
  try {
    info = await client.whoami();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      throw new CliError(`${server} did not accept the token: ${err.message}`);
    }
    throw err;
  }
  const path = await saveLogin({ server, token });
  emit(opts.json, { server, token: info, configPath: path }, () => {
    process.stdout.write(`${green("logged in")} to ${bold(server)} as ${describeScope(info)}\n`);
    process.stdout.write(`${dim(`saved to ${path}`)}\n`);
  });
}

export async function logout(cmd: Command): Promise<void> {
  const opts = globals(cmd);
  const saved = await readSavedLogin().catch(() => undefined);
  const removed = await removeSavedLogin();
  const path = configPath();
  emit(opts.json, { loggedOut: removed, server: saved?.server ?? null, configPath: path }, () => {
    if (removed) process.stdout.write(`logged out${saved ? ` of ${saved.server}` : ""} (removed ${path})\n`);
    else process.stdout.write(`not logged in (no ${path})\n`);
    // The saved login was only one of the sources: say so when another one would still apply.
    if (process.env.FLOX_TOKEN)
      process.stdout.write(`${dim("note: FLOX_TOKEN is still set in this shell")}\n`);
  });
}

export async function whoami(cmd: Command): Promise<void> {
  const { client, connection, json } = await connect(cmd);
  const info = await client.whoami();
  emit(json, { server: connection.server, token: info }, () => {
    const serverFrom = sourceLabel(connection.serverFrom, "--server", "FLOX_SERVER");
    const tokenFrom = sourceLabel(connection.tokenFrom, "--token", "FLOX_TOKEN");
    const label = info.name ? `, "${info.name}"` : "";
    const rows: [string, string][] = [
      ["server", `${connection.server} ${dim(`(from ${serverFrom})`)}`],
      ["token", `${info.prefix}… ${dim(`(id ${info.id}${label}, from ${tokenFrom})`)}`],
      ["scope", describeScope(info)],
      ["created", shortTime(info.createdAt)],
    ];
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(8)} ${v}\n`);
  });
}

function sourceLabel(source: Source | undefined, flag: string, env: string): string {
  if (source === "flag") return flag;
  if (source === "env") return `$${env}`;
  return "flox login";
}
