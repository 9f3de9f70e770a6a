// `flox daemon --socket PATH`: the relay socket for a machine that wants only the shared daemon. The token is
// checked once at start (a refused one is an error line and exit 1, not a hang); then every local connection is
// relayed, waiting for the server while it is away.
import type { Command } from "commander";
import { probeRelay, RelayRefusedError, serveRelaySocket } from "../../lib/api/nix-daemon-client.js";
import { resolveConnection } from "../../lib/cli-config.js";
import { globals } from "../context.js";
import { CliError } from "../output.js";

interface DaemonFlags {
  socket: string;
  daemonToken?: string;
  org?: string;
  reconnectFor: string;
}

export async function daemon(cmd: Command): Promise<void> {
  const flags = cmd.opts<DaemonFlags>();
  const g = globals(cmd);
  const conn = await resolveConnection({ server: g.server, token: flags.daemonToken ?? g.token });
  if (!conn.token) {
    throw new CliError(
      `no token for ${conn.server}: pass --daemon-token T (or --token), set FLOX_TOKEN, or run \`flox login ${conn.server}\``,
    );
  }
  const reconnectFor = Number(flags.reconnectFor);
  if (!Number.isFinite(reconnectFor) || reconnectFor < 0) {
    cmd.error(`error: --reconnect-for ${flags.reconnectFor} is not a number of seconds`, { exitCode: 2 });
  }
  const target = { server: conn.server, token: conn.token, org: flags.org };
  try {
    await probeRelay(target);
  } catch (err) {
    if (err instanceof RelayRefusedError) {
      throw new CliError(`${conn.server} refused the daemon connection: ${err.message}`);
    }
    process.stderr.write(`flox daemon: ${(err as Error).message}; serving anyway, connections wait for it\n`);
  }
  let refused: RelayRefusedError | undefined;
  const server = await serveRelaySocket({
    ...target,
    socketPath: flags.socket,
    reconnectForMs: reconnectFor * 1000,
    say: (line) => process.stderr.write(`${line}\n`),
    onRefused: (err) => {
      refused = err;
      server.close();
    },
  });
  process.stdout.write(`flox daemon: relaying unix://${flags.socket} to ${conn.server}/nix-daemon\n`);
  await new Promise<void>((done) => {
    server.once("close", () => done());
    const stop = () => server.close();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  if (refused) throw new CliError(`${conn.server} refused the daemon connection: ${refused.message}`);
}
