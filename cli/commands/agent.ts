// flox agent: the endpoint agent (the implementation is fs-agent/); flox agent exec: a command with the
// mount as its /nix/store.
import type { Command } from "commander";
import { resolveConnection } from "../../lib/cli-config.js";
import { globals } from "../context.js";

interface AgentFlags {
  mount: string;
  cacheDir: string;
  cacheSize: string;
  fileFetchFrom: string;
  negativeTimeout: string;
  opTimeout: string;
  requestTimeout: string;
  untuned?: boolean;
  profilesDir?: string;
  unpinGrace: string;
  daemonSocket?: string;
  daemonToken?: string;
  daemonOrg?: string;
}

export async function agent(cmd: Command): Promise<void> {
  const flags = cmd.opts<AgentFlags>();
  const g = globals(cmd);
  const usage = (m: string): never => cmd.error(`error: ${m}`, { exitCode: 2, code: "flox.usage" });
  let server = g.server ?? process.env.FLOX_SERVER;
  let token = g.token ?? process.env.FLOX_TOKEN;
  if (!server || !token) {
    // `flox login`'s saved server and token fill what flags and the environment left out (its token only for it).
    const saved = await resolveConnection({ server, token }).catch(() => undefined);
    server ??= saved?.server;
    token ??= saved?.token;
  }
  if (!server) usage("which server? pass --server URL or set FLOX_SERVER");
  if (flags.daemonSocket && !token && !flags.daemonToken)
    usage("--daemon-socket needs a token: pass --daemon-token T, --token T or set FLOX_TOKEN");
  if (flags.profilesDir && !token)
    usage("--profiles-dir needs the machine's token: pass --token T or set FLOX_TOKEN");
  const seconds = (name: string, v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) usage(`${name} ${v} is not a number of seconds`);
    return n;
  };
  const { runAgentCommand, parseSize } = await import("../../fs-agent/agent.js");
  const size = (name: string, v: string): number => {
    try {
      return parseSize(v);
    } catch (err) {
      return usage(`${name}: ${(err as Error).message}`);
    }
  };
  const cacheSizeBytes = size("--cache-size", flags.cacheSize);
  const fileFetchFrom = size("--file-fetch-from", flags.fileFetchFrom);
  const options = {
    server: server as string,
    ...(token ? { token } : {}),
    mount: flags.mount,
    cacheDir: flags.cacheDir,
    cacheSizeBytes,
    fileFetchFrom,
    negativeTimeout: seconds("--negative-timeout", flags.negativeTimeout),
    opTimeoutMs: seconds("--op-timeout", flags.opTimeout) * 1000,
    requestTimeoutMs: seconds("--request-timeout", flags.requestTimeout) * 1000,
    ...(flags.untuned ? { untuned: true } : {}),
    ...(flags.profilesDir ? { profilesDir: flags.profilesDir } : {}),
    unpinGraceMs: seconds("--unpin-grace", flags.unpinGrace) * 1000,
    ...(flags.daemonSocket ? { daemonSocket: flags.daemonSocket } : {}),
    ...(flags.daemonToken ? { daemonToken: flags.daemonToken } : {}),
    ...(flags.daemonOrg ? { daemonOrg: flags.daemonOrg } : {}),
  };
  const { CliError } = await import("../output.js");
  try {
    await runAgentCommand(options);
  } catch (err) {
    const message = (err as Error).message;
    if ((err as Error).name === "ServerUnavailableError")
      throw new CliError(
        `cannot reach ${server}/cache (${message}); is the server running? (a cache dir used before starts offline)`,
      );
    if (/Mountpoint|fuse/i.test(message))
      throw new CliError(`cannot mount ${flags.mount}: ${message} (needs /dev/fuse and root)`);
    throw err;
  }
}

export async function agentExec(cmd: Command, command: string[]): Promise<void> {
  // --mount is the parent's option (`flox agent exec --mount DIR -- CMD`).
  const { mount } = cmd.optsWithGlobals<{ mount?: string }>();
  if (!mount) cmd.error("error: which mount? flox agent exec --mount DIR -- CMD [ARGS…]", { exitCode: 2 });
  if (command.length === 0)
    cmd.error("error: which command? flox agent exec --mount DIR -- CMD [ARGS…]", { exitCode: 2 });
  const { execInStore } = await import("../../fs-agent/exec.js");
  // The command's own exit status is ours (main() would turn anything that returns into 0).
  process.exit(await execInStore(mount as string, command));
}
