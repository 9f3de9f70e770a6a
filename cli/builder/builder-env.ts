// The isolated Nix environment a builder runs in: its own nix.conf (the Storehouse as the only substituter,
// only the server's key trusted), HOME and caches under the chroot store, never the host's.
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ApiClient } from "../../lib/api/client.js";
import { isolatedNixEnv } from "../../lib/nix-isolated-env.js";
import { type ApiCaller, errorText, pause, RETRY_MS } from "./builder-api.js";

export interface BuilderOptions {
  /** `http://HOST:PORT` of the flox server. */
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
  env: Record<string, string>;
  say: (line: string) => void;
}

/** The server's signing key; a server that is down or answers 5xx is asked again (it may be starting). */
async function serverKey(server: string, say: (line: string) => void, signal?: AbortSignal): Promise<string> {
  const url = `${server}/cache/public-key`;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const res = await fetch(url, signal ? { signal } : {});
      if (res.ok) return (await res.text()).trim();
      const text = await res.text();
      if (res.status < 500) throw new Error(`GET ${url}: HTTP ${res.status}: ${errorText(text)}`);
      say(`GET ${url}: HTTP ${res.status}; retrying`);
    } catch (err) {
      if (signal?.aborted || !(err instanceof TypeError)) throw err;
      say(`GET ${url}: ${(err as Error).message}${err.cause ? ` (${String(err.cause)})` : ""}; retrying`);
    }
    await pause(RETRY_MS, signal);
  }
}

/** The isolated Nix environment of this builder: its own nix.conf, HOME and caches, never the host's. */
export async function setUp(opts: BuilderOptions, refused: Env["refused"]): Promise<Env> {
  const store = resolve(opts.store);
  const own = join(store, ".flox-builder");
  await mkdir(own, { recursive: true });
  const server = opts.server.replace(/\/+$/, "");
  const say = opts.say ?? ((l: string) => process.stderr.write(`${l}\n`));
  const key = await serverKey(server, say, opts.signal);
  const netrc = join(own, "netrc");
  await writeFile(netrc, `machine ${new URL(server).hostname} login x password ${opts.token}\n`, {
    mode: 0o600,
  });
  const { env } = await isolatedNixEnv({
    dir: own,
    inheritHost: true,
    conf: [
      `substituters = ${server}/cache`,
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
    server,
    client: new ApiClient({ server, token: opts.token }),
    store,
    env,
    say,
    refused,
  };
}
