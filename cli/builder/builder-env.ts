// The isolated Nix environment a builder runs in: its own nix.conf (the Storehouse as the only substituter,
// only the server's key trusted), HOME and caches under the chroot store, never the host's.
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ApiClient } from "../../lib/api/client.js";
import { ServerList } from "../../lib/api/servers.js";
import { isolatedNixEnv } from "../../lib/nix-isolated-env.js";
import { type ApiCaller, errorText, pause, RETRY_MS } from "./builder-api.js";

export interface BuilderOptions {
  /** `http://HOST:PORT` of the flox server, or several as `URL1,URL2,…` (tried in turn when one is away). */
  server: string;
  /** A builder token. */
  token: string;
  /** Root of this builder's chroot store (`--store DIR`); its own files go in DIR/.flox-builder. */
  store: string;
  systems: string[];
  features?: string[];
  maxJobs?: number;
  name?: string;
  /** `--store-max`: after a build, a store above this many bytes is collected (nix-store --gc). */
  storeMaxBytes?: number;
  /** How long to wait after the server had nothing, default 1000 ms. */
  pollMs?: number;
  /** Progress lines (default: stderr). */
  say?: (line: string) => void;
  /** Aborting stops claiming, kills running builds and reports them as infrastructure errors (requeued). */
  signal?: AbortSignal;
}

export interface Env extends ApiCaller {
  store: string;
  /** The builder token, for the Storehouse uploads (upload-outputs.ts), which are not API calls. */
  token: string;
  env: Record<string, string>;
  say: (line: string) => void;
}

/**
 * The servers' signing key (one key for the fleet); a server that is down or answers 5xx is asked again (it may be
 * starting), or the next one in the list is.
 */
async function serverKey(
  servers: ServerList,
  say: (line: string) => void,
  signal?: AbortSignal,
): Promise<string> {
  for (;;) {
    signal?.throwIfAborted();
    const server = servers.current;
    const url = `${server}/cache/public-key`;
    try {
      const res = await fetch(url, signal ? { signal } : {});
      if (res.ok) return (await res.text()).trim();
      const text = await res.text();
      if (res.status < 500) throw new Error(`GET ${url}: HTTP ${res.status}: ${errorText(text)}`);
      say(`GET ${url}: HTTP ${res.status}; retrying`);
      servers.failed(server, new Error(`HTTP ${res.status}`));
    } catch (err) {
      if (signal?.aborted || !(err instanceof TypeError)) throw err;
      say(`GET ${url}: ${(err as Error).message}${err.cause ? ` (${String(err.cause)})` : ""}; retrying`);
      servers.failed(server, err);
    }
    await pause(RETRY_MS, signal);
  }
}

/** The isolated Nix environment of this builder: its own nix.conf, HOME and caches, never the host's. */
export async function setUp(opts: BuilderOptions, refused: Env["refused"]): Promise<Env> {
  const store = resolve(opts.store);
  const own = join(store, ".flox-builder");
  await mkdir(own, { recursive: true });
  const say = opts.say ?? ((l: string) => process.stderr.write(`${l}\n`));
  const servers = new ServerList(opts.server, {
    onFailover: (from, to, err) => say(`${from} failed (${err.message}); going on with ${to}`),
  });
  const key = await serverKey(servers, say, opts.signal);
  const netrc = join(own, "netrc");
  const hosts = [...new Set(servers.urls.map((u) => new URL(u).hostname))];
  await writeFile(netrc, hosts.map((h) => `machine ${h} login x password ${opts.token}\n`).join(""), {
    mode: 0o600,
  });
  const { env } = await isolatedNixEnv({
    dir: own,
    inheritHost: true,
    conf: [
      // One server only: Nix 2.8 fails a build when any substituter is unreachable. Each build names the
      // server that answered last instead (run-build.ts).
      `substituters = ${servers.current}/cache`,
      `trusted-public-keys = ${key}`,
      "require-sigs = true",
      `netrc-file = ${netrc}`,
      // Another builder may upload an input a moment after this one looked for it.
      "narinfo-cache-negative-ttl = 0",
      "sandbox = false",
      "build-users-group =",
      "experimental-features = nix-command",
      "connect-timeout = 5",
    ],
  });
  return {
    get server() {
      return servers.current;
    },
    client: new ApiClient({ server: servers, token: opts.token }),
    token: opts.token,
    store,
    env,
    say,
    refused,
  };
}
