// The build agent behind `flox builder`: claims builds from the server under a lease, realises them in its own
// chroot Nix store (substituting the .drv closure and built inputs from the Storehouse), streams the log,
// uploads the outputs with `nix copy`, and reports. It speaks the HTTP API only (never imports server/).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import type { BuildResultBody, ClaimBody, ClaimedBuild, ClaimResponse } from "../../lib/api/builders.js";
import { ApiClient } from "../../lib/api/client.js";
import { ApiError } from "../../lib/api/errors.js";

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
  /** How long to wait after the server had nothing, default 1000 ms. */
  pollMs?: number;
  /** Progress lines (default: stderr). */
  say?: (line: string) => void;
  /** Aborting stops claiming, kills running builds and reports them as infrastructure errors (requeued). */
  signal?: AbortSignal;
}

/** Nix's exit codes for a build that ran and failed (100), timed out (101), mismatched a hash (102), … */
const BUILD_FAILURE_EXIT = new Set([100, 102, 104]);
const TIMEOUT_EXIT = 101;
const LOG_FLUSH_MS = 500;

class LeaseLostError extends Error {
  override name = "LeaseLostError";
}

/**
 * The server answered 401 or 403: the token is wrong, revoked or not a builder token. Retrying cannot help (unlike
 * a network error or a 5xx), so the builder stops and says how to get a good token.
 */
export class BuilderTokenRefusedError extends Error {
  override name = "BuilderTokenRefusedError";
  constructor(
    readonly server: string,
    readonly status: number,
    readonly serverMessage: string,
  ) {
    super(
      `the server ${server} refused this token (HTTP ${status}${serverMessage ? `: ${serverMessage}` : ""}). ` +
        "A builder needs a builder token: an admin makes one with `flox token create --builder --name NAME`; " +
        "pass it with --token or FLOX_TOKEN.",
    );
  }
}

/** The `message` of the API's `{"error": {"message"}}` body, or the text as it came. */
function errorText(text: string): string {
  try {
    const m = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof m === "string") return m;
  } catch {
    // not JSON: the raw text is the best we have
  }
  return text.trim().slice(0, 500);
}

interface Env {
  server: string;
  client: ApiClient;
  store: string;
  env: Record<string, string>;
  say: (line: string) => void;
  /** Called when the server refuses the token, from any request: the builder then stops. */
  refused: (err: BuilderTokenRefusedError) => void;
}

/**
 * One call of the builder API: a 409 (the lease is gone) becomes LeaseLostError, a 401/403 BuilderTokenRefusedError
 * (and the builder stops); network errors, 5xx and other refusals are the client's errors, as they came.
 */
async function api<T>(e: Env, what: string, call: (client: ApiClient) => Promise<T>): Promise<T> {
  try {
    return await call(e.client);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.status === 409) throw new LeaseLostError(`${what}: the lease is gone`);
    if (err.status === 401 || err.status === 403) {
      const refused = new BuilderTokenRefusedError(e.server, err.status, err.message);
      e.refused(refused);
      throw refused;
    }
    throw new Error(`${what}: HTTP ${err.status}: ${err.message}`);
  }
}

/** How long to wait before asking again after a network error or a 5xx. */
const RETRY_MS = 2000;

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((done) => {
    const wake = () => {
      clearTimeout(t);
      signal?.removeEventListener("abort", wake);
      done();
    };
    const t = setTimeout(wake, ms);
    signal?.addEventListener("abort", wake);
  });
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
async function setUp(opts: BuilderOptions, refused: Env["refused"]): Promise<Env> {
  const store = resolve(opts.store);
  const own = join(store, ".flox-builder");
  const conf = join(own, "etc");
  const home = join(own, "home");
  const tmp = join(own, "tmp");
  for (const d of [conf, home, tmp]) await mkdir(d, { recursive: true });
  const server = opts.server.replace(/\/+$/, "");
  const say = opts.say ?? ((l: string) => process.stderr.write(`${l}\n`));
  const key = await serverKey(server, say, opts.signal);
  const netrc = join(own, "netrc");
  await writeFile(netrc, `machine ${new URL(server).hostname} login x password ${opts.token}\n`, {
    mode: 0o600,
  });
  await writeFile(
    join(conf, "nix.conf"),
    [
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
      "",
    ].join("\n"),
  );
  await writeFile(join(conf, "user.conf"), "");
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("NIX_") && !k.startsWith("XDG_")) env[k] = v;
  }
  Object.assign(env, {
    HOME: home,
    TMPDIR: tmp,
    XDG_CACHE_HOME: join(home, ".cache"),
    XDG_CONFIG_HOME: join(home, ".config"),
    XDG_DATA_HOME: join(home, ".local/share"),
    XDG_STATE_HOME: join(home, ".local/state"),
    NIX_CONF_DIR: conf,
    NIX_USER_CONF_FILES: join(conf, "user.conf"),
    NIX_PATH: "",
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

/** Nix kills the builder it started (in a session of its own) when it is interrupted, but not when killed. */
const NIX_GRACE_MS = 5000;

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

/** SIGTERM first, so Nix stops its builder; SIGKILL for whatever is left after a grace period. */
function killGroup(child: ChildProcess): void {
  signalGroup(child, "SIGTERM");
  const force = setTimeout(() => signalGroup(child, "SIGKILL"), NIX_GRACE_MS);
  force.unref();
  child.once("close", () => clearTimeout(force));
}

interface Spawned {
  child: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function spawnNix(e: Env, cmd: string, args: string[], onOutput: (chunk: Buffer) => void): Spawned {
  // A process group of its own: a cancel kills Nix and the builder script it started.
  const child = spawn(cmd, args, { env: e.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  child.stdout?.on("data", onOutput);
  child.stderr?.on("data", onOutput);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    child.once("error", (err) => {
      onOutput(Buffer.from(`flox builder: could not start ${cmd}: ${err.message}\n`));
      done({ code: -1, signal: null });
    });
    child.once("close", (code, signal) => done({ code, signal }));
  });
  return { child, exit };
}

/** Runs one claimed build to its report. */
async function runBuild(
  e: Env,
  build: ClaimedBuild,
  leaseId: string,
  leaseSeconds: number,
  signal?: AbortSignal,
) {
  const id = build.id;
  let pending: Buffer[] = [];
  let lastOutput = Date.now();
  let flushing: Promise<void> = Promise.resolve();
  let leaseLost = false;
  let stopReason: "cancel" | "timeout" | "silent" | "lease" | "shutdown" | undefined;
  let current: ChildProcess | undefined;

  const output = (chunk: Buffer) => {
    lastOutput = Date.now();
    pending.push(chunk);
  };
  const note = (line: string) => output(Buffer.from(`flox builder: ${line}\n`));
  const flush = () => {
    flushing = flushing.then(async () => {
      if (pending.length === 0 || leaseLost) return;
      const chunk = Buffer.concat(pending);
      pending = [];
      try {
        await api(e, `sending the log of build ${id}`, (c) => c.appendBuildLog(id, leaseId, chunk));
      } catch (err) {
        if (err instanceof LeaseLostError) leaseLost = true;
        else e.say(`build ${id}: sending the log failed: ${(err as Error).message}`);
      }
    });
    return flushing;
  };
  const stop = (why: NonNullable<typeof stopReason>) => {
    stopReason ??= why;
    if (current) killGroup(current);
  };

  const started = Date.now();
  const logTimer = setInterval(() => void flush(), LOG_FLUSH_MS);
  const beatMs = Math.max(500, Math.min(5000, (leaseSeconds * 1000) / 3));
  const beat = setInterval(() => {
    void (async () => {
      try {
        const res = await api(e, `heartbeat of build ${id}`, (c) => c.heartbeat(id, leaseId));
        if (res.cancel) {
          note("the build was cancelled on the server; stopping");
          stop("cancel");
        }
      } catch (err) {
        if (err instanceof LeaseLostError) {
          leaseLost = true;
          stop("lease");
        } else e.say(`build ${id}: heartbeat failed: ${(err as Error).message}`);
      }
    })();
  }, beatMs);
  const watch = setInterval(() => {
    const now = Date.now();
    if (now - started > build.timeoutSeconds * 1000) {
      note(`timed out after ${build.timeoutSeconds} s; killing the build`);
      stop("timeout");
    } else if (now - lastOutput > build.maxSilentSeconds * 1000) {
      note(`no output for ${build.maxSilentSeconds} s; killing the build`);
      stop("silent");
    }
  }, 1000);
  const onAbort = () => stop("shutdown");
  signal?.addEventListener("abort", onAbort);

  let report: Omit<BuildResultBody, "lease">;
  try {
    note(`realising ${build.drvPath} (attempt ${build.attempt})`);
    const realise = spawnNix(
      e,
      "nix-store",
      [
        "--store",
        e.store,
        "--realise",
        build.drvPath,
        "--option",
        "timeout",
        String(build.timeoutSeconds),
        "--option",
        "max-silent-time",
        String(build.maxSilentSeconds),
      ],
      output,
    );
    current = realise.child;
    if (stopReason) killGroup(realise.child);
    const r = await realise.exit;
    current = undefined;
    if (stopReason === "timeout" || stopReason === "silent" || (!stopReason && r.code === TIMEOUT_EXIT)) {
      report = { status: "timed-out", message: "the build ran over its time limit or was silent too long" };
    } else if (stopReason) {
      report = { status: "failed", infrastructureError: `the builder stopped the build (${stopReason})` };
    } else if (r.code !== 0 && r.code !== null && BUILD_FAILURE_EXIT.has(r.code)) {
      report = { status: "failed", message: `nix-store --realise exited ${r.code}` };
    } else if (r.code !== 0) {
      report = {
        status: "failed",
        infrastructureError: `nix-store --realise exited ${r.code ?? r.signal} before the build could run`,
      };
    } else {
      note("uploading the outputs to the Storehouse");
      const copy = spawnNix(
        e,
        "nix",
        [
          "copy",
          "--store",
          e.store,
          "--to",
          `${e.server}/cache?compression=br`,
          ...Object.values(build.outputs),
        ],
        output,
      );
      current = copy.child;
      if (stopReason) killGroup(copy.child);
      const c = await copy.exit;
      current = undefined;
      report =
        c.code === 0 && !stopReason
          ? { status: "succeeded" }
          : {
              status: "failed",
              infrastructureError: `uploading the outputs failed (nix copy exited ${c.code ?? c.signal})`,
            };
    }
  } finally {
    clearInterval(logTimer);
    clearInterval(beat);
    clearInterval(watch);
    signal?.removeEventListener("abort", onAbort);
  }
  if (stopReason === "cancel" || stopReason === "lease" || leaseLost) {
    e.say(`build ${id}: stopped (${stopReason ?? "lease"}); not reporting`);
    await flush();
    return;
  }
  note(
    `result: ${report.infrastructureError ? `infrastructure error: ${report.infrastructureError}` : report.status}`,
  );
  await flush();
  try {
    const result = { lease: leaseId, ...report };
    const state = await api(e, `reporting build ${id}`, (c) => c.reportBuildResult(id, result));
    e.say(`build ${id}: ${report.infrastructureError ? "infrastructure error" : report.status} → ${state}`);
  } catch (err) {
    e.say(`build ${id}: reporting failed: ${(err as Error).message}`);
  }
}

/**
 * Claims and runs builds until `signal` aborts. Network errors and 5xx answers are retried; a refused token (401/403,
 * on any request) stops the running builds and rejects with `BuilderTokenRefusedError`.
 */
export async function runBuilder(opts: BuilderOptions): Promise<void> {
  const stopping = new AbortController();
  let refusal: BuilderTokenRefusedError | undefined;
  const onAbort = () => stopping.abort();
  if (opts.signal?.aborted) stopping.abort();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  let e: Env;
  try {
    e = await setUp(opts, (err) => {
      refusal ??= err;
      stopping.abort();
    });
  } catch (err) {
    opts.signal?.removeEventListener("abort", onAbort);
    if (opts.signal?.aborted) return; // stopped while the server was still unreachable
    throw err;
  }
  const signal = stopping.signal;
  const maxJobs = opts.maxJobs ?? 1;
  const name = opts.name ?? `${hostname()}-${process.pid}`;
  const claim: ClaimBody = {
    builderName: name,
    systems: opts.systems,
    features: opts.features ?? [],
    maxJobs,
  };
  const running = new Set<Promise<void>>();
  const pollMs = opts.pollMs ?? 1000;
  const sleep = (ms: number) => pause(ms, signal);
  e.say(
    `flox builder ${name}: ${opts.systems.join(",")}, up to ${maxJobs} jobs, store ${e.store}, server ${e.server}`,
  );
  while (!signal.aborted) {
    if (running.size >= maxJobs) {
      await Promise.race(running);
      continue;
    }
    let claimed: ClaimResponse | undefined;
    try {
      claimed = (await api(e, "claiming", (c) => c.claimBuild(claim))) ?? undefined;
    } catch (err) {
      if (err instanceof BuilderTokenRefusedError) break;
      e.say(`claiming failed: ${(err as Error).message}; retrying`);
      await sleep(RETRY_MS);
      continue;
    }
    if (!claimed) {
      await sleep(pollMs);
      continue;
    }
    const { build, lease } = claimed;
    e.say(`build ${build.id}: claimed ${build.drvPath} (attempt ${build.attempt})`);
    const job: Promise<void> = runBuild(e, build, lease.id, lease.seconds, signal)
      .catch((err) => e.say(`build ${build.id}: ${(err as Error).message}`))
      .finally(() => running.delete(job));
    running.add(job);
  }
  await Promise.allSettled([...running]);
  opts.signal?.removeEventListener("abort", onAbort);
  if (refusal) throw refusal;
}
