// The shared Nix daemon's world for end-to-end tests and benchmarks: a real server with its daemon, one real
// builder, orgs and tokens, `flox agent` mounting the Storehouse with its relay socket, and stock Nix clients run
// in a fresh /nix (a private mount namespace) whose /nix/store is only the agent's mount.
import { join } from "node:path";
import { type AgentProcess, startAgent } from "./agent.js";
import { type CiWorld, startCiWorld } from "./ci-world.js";
import { runFreshNix } from "./fresh-nix.js";

export interface RelayWorld extends CiWorld {
  agent: AgentProcess;
  /** The agent's relay socket (`--daemon-socket`). */
  socket: string;
  /** A member token of acme (the agent's relay token). */
  member: string;
  /** `DATA_DIR/busybox/bin`'s busybox, for expressions that need a shell. */
  busybox: string;
  token(body: Record<string, unknown>): Promise<{ id: number; secret: string }>;
}

export async function startRelayWorld(
  prefix: string,
  opts: { serverEnv?: Record<string, string> } = {},
): Promise<RelayWorld> {
  const world = await startCiWorld({
    prefix,
    orgs: [{ name: "acme" }, { name: "other" }],
    ...(opts.serverEnv ? { server: () => ({ env: opts.serverEnv ?? {} }) } : {}),
  });
  let agent: AgentProcess | undefined;
  const stop = async () => {
    await agent?.stop();
    await world.stop();
  };
  try {
    const token = async (body: Record<string, unknown>) => {
      const r = await world.srv.api("POST", "/api/v1/tokens", body);
      if (r.status !== 201) throw new Error(`creating a token: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      return { id: r.body.token.id as number, secret: r.body.secret as string };
    };
    const member = (await token({ scope: "org", org: "acme", role: "member", name: "alice-laptop" })).secret;
    const socket = join(world.tmp, "daemon.sock");
    agent = await startAgent(
      world.srv.url,
      { mount: join(world.tmp, "mnt"), cacheDir: join(world.tmp, "agent-cache") },
      ["--daemon-socket", socket, "--daemon-token", member, "--negative-timeout", "1"],
    );
    return {
      ...world,
      agent,
      socket,
      member,
      busybox: join(world.srv.dataDir, "busybox"),
      token,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A stock Nix client's result: exit code and output. */
export interface ClientRun {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

/**
 * Runs `script` (sh) as a brand-new machine's Nix client: a fresh empty /nix in a private mount namespace
 * (testing/fresh-nix.ts), its /nix/store the agent's mount, NIX_REMOTE at the relay socket; `$0` is its directory.
 */
export async function runRelayClient(
  w: Pick<RelayWorld, "agent" | "socket" | "srv">,
  opts: { dir: string; script: string; env?: Record<string, string>; extraConf?: string; timeoutMs?: number },
): Promise<ClientRun> {
  const r = await runFreshNix({
    dir: opts.dir,
    cacheUrl: `${w.srv.url}/cache`,
    key: await publicKey(w.srv.url),
    script: `mkdir -p /nix/store && /usr/bin/mount --bind "${w.agent.mount}" /nix/store && ${opts.script}`,
    env: { NIX_REMOTE: `unix://${w.socket}`, ...opts.env },
    ...(opts.extraConf ? { extraConf: opts.extraConf } : {}),
    timeoutMs: opts.timeoutMs ?? 300_000,
  });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

async function publicKey(server: string): Promise<string> {
  return (await (await fetch(`${server}/cache/public-key`)).text()).trim();
}

/** An expression built from busybox alone (no nixpkgs), unique by `tag`, that the farm builds. */
export function helloExpression(
  busyboxDir: string,
  tag: string,
  opts: { sleep?: number; fail?: boolean; attrs?: string } = {},
): string {
  const script = [
    `echo "building ${tag} on the farm"`,
    opts.sleep ? `$bb sleep ${opts.sleep}` : "",
    opts.fail ? `echo "${tag} fails on purpose"; exit 3` : "",
    "$bb mkdir -p $out/bin",
    `printf '#!%s\\necho hello from ${tag}\\n' $bb_sh > $out/bin/hello`,
    "$bb chmod +x $out/bin/hello",
  ]
    .filter(Boolean)
    .join("; ");
  return `let bbdir = builtins.path { path = ${busyboxDir}; name = "busybox"; }; in
derivation {
  name = "${tag}";
  system = builtins.currentSystem;
  builder = "\${bbdir}/bin/sh";
  bb = "\${bbdir}/bin/busybox";
  bb_sh = "\${bbdir}/bin/sh";
  args = [ "-c" ${JSON.stringify(script)} ];${opts.attrs ? `\n  ${opts.attrs}` : ""}
}
`;
}
