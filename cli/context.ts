// What every API command starts from: the global options, and a client for the configured server.
import type { Command } from "commander";
import { ApiClient } from "../lib/api/client.js";
import { type Connection, resolveConnection } from "../lib/cli-config.js";
import { CliError } from "./output.js";

/** The options defined on the program itself, readable from any subcommand. */
export interface GlobalOptions {
  server?: string;
  token?: string;
  json?: boolean;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

export interface Session {
  client: ApiClient;
  connection: Connection;
  json: boolean;
}

/** A client for the resolved server; every command but `flox login` needs a token, so one is required. */
export async function connect(cmd: Command): Promise<Session> {
  const opts = globals(cmd);
  const connection = await resolveConnection({ server: opts.server, token: opts.token });
  if (!connection.token) {
    throw new CliError(
      `no token for ${connection.server}: pass --token TOKEN, set FLOX_TOKEN, or run \`flox login ${connection.server}\``,
    );
  }
  return {
    client: new ApiClient({ server: connection.server, token: connection.token }),
    connection,
    json: opts.json === true,
  };
}
