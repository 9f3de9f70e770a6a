// `flox agent`: mounts the Storehouse at a directory through the local cache, serves a status socket, and
// unmounts on SIGTERM/SIGINT/SIGHUP and on an uncaught error. It speaks HTTP to the server only (../shared/DESIGN.md).
import { execFileSync } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join, resolve } from "node:path";
import { serveRelaySocket } from "../lib/api/nix-daemon-client.js";
import { runSync } from "../lib/profile-sync.js";
import { CacheIndex } from "./cache-index.js";
import { FuseStore, type MountOptions } from "./fuse-store.js";
import { clearStaleMount } from "./mount-point.js";
import { ProfileKeeper, type ProfileState } from "./profiles.js";
import { CacheRemote } from "./remote.js";
import { StoreCache } from "./store-cache.js";

export interface AgentOptions extends MountOptions {
  server: string;
  token?: string;
  mount: string;
  cacheDir: string;
  /** Quota in bytes (default 10 GiB). */
  cacheSizeBytes?: number;
  /** Longest wait for the server per request (default 10 s): uncached paths fail with EIO after it. */
  requestTimeoutMs?: number;
  /** Unix socket for status (default CACHE_DIR/agent.sock). */
  statusSocket?: string;
  /** Keep the machine's subscribed profiles as DIR/org/name (needs a machine token), pinning their closures. */
  profilesDir?: string;
  /** How long an old generation's closure stays pinned after a switch (default 10 min). */
  unpinGraceMs?: number;
  /** Also serve this unix socket, relaying Nix daemon connections to the server's shared daemon. */
  daemonSocket?: string;
  /** The relay's token (default: `token`). */
  daemonToken?: string;
  /** The org the relayed builds are for (default: the token's). */
  daemonOrg?: string;
  log?: (msg: string) => void;
}

export interface RunningAgent {
  store: FuseStore;
  cache: StoreCache;
  remote: CacheRemote;
  statusSocket: string;
  profiles: ProfileKeeper;
  status(): AgentStatus;
  /** Stops within SHUTDOWN_DEADLINE_MS whatever the mount and the server do; resolves with the steps it skipped. */
  stop(): Promise<string[]>;
}

/** Longest wait for one step of the shutdown, and for all of them. */
const STEP_MS = 2000;
export const SHUTDOWN_DEADLINE_MS = 10_000;

/** One step of the shutdown; `ownBound` marks a step bounded by itself, run even when the deadline has passed. */
type Step = [name: string, work: () => unknown, ownBound?: "bounded by itself"];

/**
 * Runs the shutdown `steps` in order, each given at most STEP_MS (and what is left of the deadline): a step that
 * hangs (a server that never answers) is logged and left behind, so that a supervisor's SIGTERM always ends the
 * agent. The unmount bounds itself and is never skipped. Returns the steps that failed or were skipped.
 */
async function runBounded(steps: Step[], log: (msg: string) => void): Promise<string[]> {
  const until = Date.now() + SHUTDOWN_DEADLINE_MS;
  const skipped: string[] = [];
  for (const [step, work, ownBound] of steps) {
    const left = ownBound ? Number.POSITIVE_INFINITY : Math.min(STEP_MS, until - Date.now());
    if (left <= 0) {
      log(`stopping: no time left for ${step}; skipped`);
      skipped.push(step);
      continue;
    }
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      Promise.resolve()
        .then(work)
        .then(
          (r) => ({ done: true as const, note: typeof r === "string" ? r : undefined }),
          (err: Error) => ({ done: false as const, note: `failed: ${err.message}` }),
        ),
      new Promise<{ done: false; note: string }>((ok) => {
        if (Number.isFinite(left)) {
          timer = setTimeout(
            () => ok({ done: false, note: `did not finish within ${left} ms; skipped` }),
            left,
          );
        }
      }),
    ]);
    clearTimeout(timer);
    if (!outcome.done) skipped.push(step);
    if (outcome.note) log(`stopping: ${step}: ${outcome.note}`);
  }
  return skipped;
}

export interface AgentStatus {
  mount: string;
  server: string;
  online: boolean;
  ops: FuseStore["counters"];
  remote: CacheRemote["counters"];
  cache: ReturnType<StoreCache["figures"]>;
  profilesDir: string | null;
  profiles: ProfileState[];
  pins: string[];
  pendingUnpins: string[];
}

/** "10G", "512M", "1.5GiB", "1000" → bytes. */
export function parseSize(s: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?b)?$/i.exec(s.trim());
  if (!m) throw new Error(`'${s}' is not a size (e.g. 10G, 512M, 1000000)`);
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[(m[2] ?? "").toLowerCase()] ?? 1;
  return Math.floor(Number(m[1]) * unit);
}

export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`flox agent: ${m}\n`));
  const cacheDir = resolve(opts.cacheDir);
  // Before anything is opened: a live agent at the mount point is an error that must end this one at once.
  await clearStaleMount(resolve(opts.mount), log);
  await mkdir(cacheDir, { recursive: true });
  const index = new CacheIndex(join(cacheDir, "index.sqlite"));
  const remote = new CacheRemote({
    server: opts.server,
    ...(opts.token ? { token: opts.token } : {}),
    ...(opts.requestTimeoutMs ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
  });
  // The key is kept: a restarted agent serves its cache even when the server is away.
  const savedKey = index.getMeta(`public-key ${remote.fleet}`);
  await remote.start(savedKey);
  index.setMeta(`public-key ${remote.fleet}`, remote.publicKey);
  const cache = await StoreCache.open(
    { dir: cacheDir, remote, quotaBytes: opts.cacheSizeBytes ?? 10 * 1024 ** 3 },
    index,
  );
  const store = new FuseStore(resolve(opts.mount), cache, opts, log);
  await store.mount();

  const profiles = new ProfileKeeper(cache, {
    graceMs: opts.unpinGraceMs ?? 10 * 60_000,
    ...(opts.profilesDir ? { profilesDir: resolve(opts.profilesDir) } : {}),
    log,
  });
  const syncStop = new AbortController();
  let syncing: Promise<number> | undefined;
  if (opts.profilesDir) {
    if (!opts.token) throw new Error("--profiles-dir needs a machine token (--token or FLOX_TOKEN)");
    syncing = runSync({
      server: opts.server,
      token: opts.token,
      profilesDir: resolve(opts.profilesDir),
      signal: syncStop.signal,
      log: (line) => log(`sync: ${line}`),
      beforeSwitch: profiles.beforeSwitch,
      afterSwitch: profiles.afterSwitch,
      caughtUp: profiles.caughtUp,
      unsubscribed: profiles.unsubscribed,
    }).catch((err) => {
      log(`sync: stopped: ${(err as Error).message}`);
      return 1;
    });
  }

  const status = (): AgentStatus => ({
    mount: store.mountPoint,
    server: opts.server,
    online: remote.online,
    ops: { ...store.counters },
    remote: { ...remote.counters },
    cache: cache.figures(),
    profilesDir: opts.profilesDir ? resolve(opts.profilesDir) : null,
    profiles: [...profiles.current.values()],
    pins: cache.pinReasons(),
    pendingUnpins: profiles.pendingUnpins(),
  });
  const statusSocket = opts.statusSocket ?? join(cacheDir, "agent.sock");
  await rm(statusSocket, { force: true });
  const http: Server = createServer((req, res) => {
    if (req.method === "GET" && req.url === "/status") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(status()));
      return;
    }
    if (req.method === "POST" && req.url?.startsWith("/download?")) {
      void download(req, res);
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("GET /status, POST /download?profile=ORG/NAME\n");
  });
  // One JSON line per progress step, then {"done": …} or {"error": …}: the client draws the bar.
  const download = async (req: IncomingMessage, res: ServerResponse) => {
    const profile = new URL(req.url ?? "/", "http://agent").searchParams.get("profile") ?? "";
    res.writeHead(200, { "content-type": "application/x-ndjson" });
    try {
      const done = await profiles.download(profile, (p) => res.write(`${JSON.stringify({ progress: p })}\n`));
      res.end(`${JSON.stringify({ done })}\n`);
    } catch (err) {
      res.end(`${JSON.stringify({ error: (err as Error).message })}\n`);
    }
  };
  await new Promise<void>((ok) => http.listen(statusSocket, ok));
  const daemonToken = opts.daemonToken ?? opts.token;
  if (opts.daemonSocket && !daemonToken)
    throw new Error("--daemon-socket needs a token (--daemon-token or --token)");
  const relay =
    opts.daemonSocket && daemonToken
      ? await serveRelaySocket({
          server: opts.server,
          token: daemonToken,
          org: opts.daemonOrg,
          socketPath: resolve(opts.daemonSocket),
          say: (line) => log(line.replace(/^flox daemon: /, "daemon relay: ")),
          onRefused: () => relay?.close(),
        })
      : undefined;

  let stopping: Promise<string[]> | undefined;
  return {
    store,
    cache,
    remote,
    profiles,
    statusSocket,
    status,
    stop() {
      // The server first: fetches in flight end now, so FUSE ops waiting on them answer EIO and a plain
      // unmount can succeed. The unmount right after, before anything that could wait on the network.
      stopping ??= runBounded(
        [
          ["requests to the server", () => remote.close()],
          [`unmount ${store.mountPoint}`, () => store.unmount(), "bounded by itself"],
          ["daemon relay", () => new Promise<void>((ok) => (relay ? relay.close(() => ok()) : ok()))],
          [
            "profile sync",
            async () => {
              syncStop.abort();
              await syncing;
            },
          ],
          [
            "status socket",
            async () => {
              profiles.close();
              http.closeAllConnections();
              await new Promise<void>((ok) => http.close(() => ok()));
            },
          ],
          ["local cache", () => cache.close()],
          ["status socket file", () => rm(statusSocket, { force: true })],
        ],
        log,
      );
      return stopping;
    },
  };
}

/** The agent's way out whatever else failed: a lazy unmount, synchronous so that it runs inside an exit handler. */
function unmountLazilyNow(mount: string): void {
  for (const [file, args] of [
    ["fusermount", ["-uz", mount]],
    ["umount", ["-l", mount]],
  ] as const) {
    try {
      execFileSync(file, [...args], { stdio: "ignore", timeout: 2000 });
      return;
    } catch {
      // not mounted any more, or the next command may do it
    }
  }
}

/**
 * The long-running command: start, print one line, and on SIGTERM, SIGINT or SIGHUP (or an uncaught error) stop
 * within SHUTDOWN_DEADLINE_MS, the mount taken away plainly or lazily, and exit (0 when every step finished, 1
 * otherwise). A second signal unmounts lazily and exits at once. The exit is explicit: fuse-native's native
 * thread is not something to wait for.
 */
export async function runAgentCommand(opts: AgentOptions): Promise<never> {
  // A log line to a reader that is gone (the demo that started the agent was killed) raised EPIPE, an uncaught
  // error that ended the agent before it unmounted: the stale mount of issue 18. Lost log lines are harmless.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
  const say = (m: string) => process.stderr.write(`flox agent: ${m}\n`);
  const agent = await startAgent(opts).catch((err: Error) => {
    // What startAgent opened before it failed (the cache index, timers) must not keep the process up.
    say(`error: ${err.message}`);
    process.exit(1);
  });
  const mount = agent.store.mountPoint;
  let unmounted = false;
  // Last resort, on every exit that runs JavaScript at all: never leave the mount behind.
  process.on("exit", () => {
    if (!unmounted) unmountLazilyNow(mount);
  });
  process.stdout.write(`flox agent: ${opts.server}/cache mounted at ${mount}\n`);
  const code = await new Promise<number>((done) => {
    let stopping = false;
    const stop = (why: string, failed: boolean) => {
      if (stopping) {
        say(`${why} while stopping: unmounting lazily and exiting now`);
        unmountLazilyNow(mount);
        unmounted = true;
        process.exit(1);
      }
      stopping = true;
      say(`${why}, unmounting ${mount}`);
      agent.stop().then(
        (skipped) => {
          if (skipped.length > 0) say(`stopped without: ${skipped.join(", ")}`);
          unmounted = !skipped.some((s) => s.startsWith("unmount "));
          done(skipped.length > 0 || failed ? 1 : 0);
        },
        (err) => {
          say((err as Error).message);
          done(1);
        },
      );
    };
    for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const)
      process.on(signal, () => stop(signal, false));
    const crash = (err: unknown) => {
      say(`uncaught error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      stop("uncaught error", true);
    };
    process.on("uncaughtException", crash);
    process.on("unhandledRejection", crash);
  });
  process.exit(code);
}
