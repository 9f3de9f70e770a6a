// Every setting of `flox server` with its default: the flags (as commander hands them over), the environment
// variables beside them, and the ones only tests set. The one module that reads the server's settings from
// process.env; the rest get them from startServer and, in routes and pages, from the app context.
import { Cron } from "croner";
import { parseByteSize } from "../lib/byte-size.js";
import { DEFAULT_MAX_REPO_BYTES, DEFAULT_MAX_REPO_FILES } from "../lib/git-tree.js";
import { DEFAULT_EVAL_MEMORY_BYTES, formatMemory, MIN_EVAL_MEMORY_BYTES } from "../lib/limited-command.js";
import { DEFAULT_LEASE_SECONDS } from "./builds/queue.js";
import { InvalidInputError } from "./errors.js";
import { DEFAULT_RELAY_UID_BASE } from "./nix-daemon/forwarder.js";
import { DEFAULT_GC_SCHEDULE } from "./storehouse/gc/service.js";
import { DEFAULT_MAINTENANCE } from "./storehouse/maintenance.js";

/** Largest file a push may contain, in bytes, unless --max-file-size says otherwise. */
export const DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024;
/** How often a live page (an evaluation, a profile) looks for changes (FLOX_WEB_POLL_MS). */
export const DEFAULT_WEB_POLL_MS = 1000;
/** Seconds between keep-alive comments on machines' event streams (FLOX_SSE_HEARTBEAT_SECONDS). */
export const DEFAULT_SSE_HEARTBEAT_SECONDS = 15;

/** What startServer is given; every setting left out takes its default (resolveSettings). */
export interface StartServerOptions {
  dataDir: string;
  /** `HOST:PORT`; port 0 picks a free one. */
  listen: string;
  /** Secret of an admin token to make sure of (--admin-token / FLOX_ADMIN_TOKEN). */
  adminToken?: string | undefined;
  /** `sqlite:PATH` or `postgres://…` (--database / FLOX_DATABASE_URL); default `sqlite:DATA_DIR/db.sqlite`. */
  database?: string | undefined;
  /** A nixpkgs tree to use as the base package set instead of the bootstrap set. */
  basePath?: string | undefined;
  /** Largest file a push may contain, in bytes (default 10 MiB). */
  maxFileSize?: number | undefined;
  /** Reading the Storehouse (/cache) needs a token too (--private-cache). */
  privateCache?: boolean | undefined;
  /** FLOX_SERVER_SECRET: seals the fleet's signing key in a PostgreSQL database (server/storehouse/fleet-key.ts). */
  serverSecret?: string | undefined;
  /** The orgs' git repos (--repos-dir); default DATA_DIR/repos. Shared by the servers of a fleet. */
  reposDir?: string | undefined;
  /** Where NARs, listings, logs' and channels' objects go (--nar-store): file:DIR (default DATA_DIR/store) or s3://… */
  narStore?: string | undefined;
  /** NAR reads answer with a redirect to a presigned URL of the object store (--nar-redirect). */
  narRedirect?: boolean | undefined;
  /** The binary-cache secret key every server of a fleet signs with (--signing-key); never generated when given. */
  signingKeyFile?: string | undefined;
  /** Seconds between sweeps of NARs no narinfo names (--nar-sweep-every, default 600). */
  narSweepEverySeconds?: number | undefined;
  /** Age in seconds below which an orphaned NAR is left alone (--nar-sweep-grace, default 3600). */
  narSweepGraceSeconds?: number | undefined;
  /** Seconds between runs of the NAR check (--nar-verify-every, default 3600). */
  narVerifyEverySeconds?: number | undefined;
  /** Bytes of NAR files one run of the check reads (--nar-verify-budget, default 1 GiB). */
  narVerifyBudgetBytes?: number | undefined;
  /** When the Storehouse is collected (--gc-schedule, a cron expression or "off"; default nightly). */
  gcSchedule?: string | undefined;
  /** Scheduled collections stop once the Storehouse's NAR bytes are under this (--storehouse-target). */
  storehouseTargetBytes?: number | undefined;
  /** Most files a pushed tree may hold (default 20,000): the gate refuses more, the evaluator fails it. */
  maxRepoFiles?: number | undefined;
  /** Most bytes of files a pushed tree may hold (default 100 MiB). */
  maxRepoBytes?: number | undefined;
  /** Address space (RLIMIT_AS) of each nix-instantiate, in the gate and the evaluator (default 2 GiB). */
  evalMemoryBytes?: number | undefined;
  /** Run the shared Nix daemon and serve `GET /nix-daemon` (default on; `--no-nix-daemon`, FLOX_NIX_DAEMON=off). */
  nixDaemon?: boolean | undefined;
}

/** The settings as the server uses them: defaults filled in, the environment read once. */
export interface ServerSettings {
  maxFileSize: number;
  privateCache: boolean;
  maintenance: { [K in keyof typeof DEFAULT_MAINTENANCE]: number };
  repoLimits: { maxFiles: number; maxBytes: number };
  /** `testBatchDelayMs`: tests only (FLOX_TEST_GC_BATCH_DELAY_MS): one path per batch and a pause after each, to land a kill -9 or an upload mid-run. */
  gc: { schedule: string; targetBytes: number | null; testBatchDelayMs: number };
  evalMemoryBytes: number;
  /** FLOX_LEASE_SECONDS (tests shorten it): how long a builder's claim lasts without a heartbeat. */
  leaseSeconds: number;
  /** Tests only (FLOX_TEST_EVAL_DELAY_MS): time to kill the server mid-evaluation. */
  testEvalDelayMs: number;
  live: LiveSettings;
  relay: RelaySettings;
}

/** The shared Nix daemon and its relay (server/nix-daemon/). */
export interface RelaySettings {
  enabled: boolean;
  /** FLOX_RELAY_UID_BASE: org N's forwarders run as this + N (no account needed; keep the range unused). */
  uidBase: number;
  /** FLOX_RELAY_MAX_CONNECTIONS: daemon connections one token may hold at once. */
  maxPerToken: number;
}

/** Daemon connections one token may hold at once, unless FLOX_RELAY_MAX_CONNECTIONS says otherwise. */
export const DEFAULT_RELAY_MAX_CONNECTIONS = 32;

/** What routes and pages that stream or poll need (in the app context). */
export interface LiveSettings {
  webPollMs: number;
  sseHeartbeatSeconds: number;
}

export const DEFAULT_LIVE: LiveSettings = {
  webPollMs: DEFAULT_WEB_POLL_MS,
  sseHeartbeatSeconds: DEFAULT_SSE_HEARTBEAT_SECONDS,
};

function positiveInteger(value: string | undefined): number | undefined {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export function resolveSettings(
  opts: StartServerOptions,
  env: NodeJS.ProcessEnv = process.env,
): ServerSettings {
  return {
    maxFileSize: opts.maxFileSize ?? DEFAULT_MAX_FILE_SIZE,
    privateCache: opts.privateCache ?? false,
    maintenance: {
      sweepEverySeconds: opts.narSweepEverySeconds ?? DEFAULT_MAINTENANCE.sweepEverySeconds,
      sweepGraceSeconds: opts.narSweepGraceSeconds ?? DEFAULT_MAINTENANCE.sweepGraceSeconds,
      verifyEverySeconds: opts.narVerifyEverySeconds ?? DEFAULT_MAINTENANCE.verifyEverySeconds,
      verifyBudgetBytes: opts.narVerifyBudgetBytes ?? DEFAULT_MAINTENANCE.verifyBudgetBytes,
    },
    repoLimits: {
      maxFiles: opts.maxRepoFiles ?? DEFAULT_MAX_REPO_FILES,
      maxBytes: opts.maxRepoBytes ?? DEFAULT_MAX_REPO_BYTES,
    },
    gc: {
      schedule: opts.gcSchedule ?? DEFAULT_GC_SCHEDULE,
      targetBytes: opts.storehouseTargetBytes ?? null,
      testBatchDelayMs: Number(env.FLOX_TEST_GC_BATCH_DELAY_MS) || 0,
    },
    evalMemoryBytes: opts.evalMemoryBytes ?? DEFAULT_EVAL_MEMORY_BYTES,
    leaseSeconds: positiveInteger(env.FLOX_LEASE_SECONDS) ?? DEFAULT_LEASE_SECONDS,
    testEvalDelayMs: Number(env.FLOX_TEST_EVAL_DELAY_MS) || 0,
    live: {
      webPollMs: Number(env.FLOX_WEB_POLL_MS) || DEFAULT_WEB_POLL_MS,
      sseHeartbeatSeconds: Number(env.FLOX_SSE_HEARTBEAT_SECONDS) || DEFAULT_SSE_HEARTBEAT_SECONDS,
    },
    relay: {
      enabled: opts.nixDaemon ?? env.FLOX_NIX_DAEMON !== "off",
      uidBase: positiveInteger(env.FLOX_RELAY_UID_BASE) ?? DEFAULT_RELAY_UID_BASE,
      maxPerToken: positiveInteger(env.FLOX_RELAY_MAX_CONNECTIONS) ?? DEFAULT_RELAY_MAX_CONNECTIONS,
    },
  };
}

/** Options exactly as commander hands them over (strings). */
export interface ServerCommandOptions {
  dataDir: string;
  listen: string;
  adminToken?: string;
  database?: string;
  base?: string;
  maxFileSize?: string;
  privateCache?: boolean;
  narStore?: string;
  reposDir?: string;
  narRedirect?: boolean;
  signingKey?: string;
  narSweepEvery?: string;
  narSweepGrace?: string;
  narVerifyEvery?: string;
  narVerifyBudget?: string;
  maxRepoFiles?: string;
  maxRepoSize?: string;
  evalMemory?: string;
  gcSchedule?: string;
  storehouseTarget?: string;
  /** --nix-bin: the directory of the Nix to run (default $FLOX_NIX_BIN, else PATH). */
  nixBin?: string;
  /** commander's `--no-nix-daemon`: false when given. */
  nixDaemon?: boolean;
}

/** A whole number of seconds from a flag (0 allowed), or undefined when the flag was not given. */
function parseSeconds(flag: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value.trim());
  if (!/^[0-9]{1,9}$/.test(value.trim()) || n < min) {
    throw new InvalidInputError(
      `${flag} ${JSON.stringify(value)} is not a whole number of seconds (at least ${min})`,
    );
  }
  return n;
}

/** A positive byte count: digits, optionally with K, M, G or T (binary: 2G = 2 GiB; KiB, MiB… too). */
function parseSize(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const bytes = parseByteSize(value);
  if (bytes === undefined) {
    throw new InvalidInputError(
      `${flag} ${JSON.stringify(value)} is not a size: give bytes, or a number with K, M or G (e.g. 100M, 2G)`,
    );
  }
  return bytes;
}

function parseCount(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9][0-9]{0,9}$/.test(value.trim())) {
    throw new InvalidInputError(`${flag} ${JSON.stringify(value)} is not a positive whole number`);
  }
  return Number(value.trim());
}

function parseEvalMemory(value: string | undefined): number | undefined {
  const bytes = parseSize("--eval-memory", value);
  if (bytes !== undefined && bytes < MIN_EVAL_MEMORY_BYTES) {
    throw new InvalidInputError(
      `--eval-memory ${JSON.stringify(value)} is below ${formatMemory(MIN_EVAL_MEMORY_BYTES)}, too little for Nix to start`,
    );
  }
  return bytes;
}

/** A cron expression croner accepts (5 or 6 fields), or "off". */
function parseGcSchedule(value: string | undefined): string | undefined {
  if (value === undefined || value.trim() === "off") return value?.trim();
  try {
    new Cron(value.trim(), { paused: true }).stop();
  } catch (err) {
    throw new InvalidInputError(
      `--gc-schedule ${JSON.stringify(value)} is not a cron expression (${(err as Error).message}); e.g. "17 3 * * *" (nightly at 03:17) or "off"`,
    );
  }
  return value.trim();
}

/** `flox server`'s flags, with the environment variables that stand in for some of them, as startServer's options. */
export function optionsFromFlags(
  opts: ServerCommandOptions,
  env: NodeJS.ProcessEnv = process.env,
): StartServerOptions {
  return {
    dataDir: opts.dataDir,
    listen: opts.listen,
    adminToken: opts.adminToken ?? (env.FLOX_ADMIN_TOKEN || undefined),
    database: opts.database ?? (env.FLOX_DATABASE_URL || undefined),
    basePath: opts.base,
    maxFileSize: parseSize("--max-file-size", opts.maxFileSize),
    privateCache: opts.privateCache,
    narStore: opts.narStore ?? (env.FLOX_NAR_STORE || undefined),
    reposDir: opts.reposDir ?? (env.FLOX_REPOS_DIR || undefined),
    serverSecret: env.FLOX_SERVER_SECRET || undefined,
    narRedirect: opts.narRedirect,
    signingKeyFile: opts.signingKey ?? (env.FLOX_SIGNING_KEY || undefined),
    narSweepEverySeconds: parseSeconds("--nar-sweep-every", opts.narSweepEvery, 1),
    narSweepGraceSeconds: parseSeconds("--nar-sweep-grace", opts.narSweepGrace),
    narVerifyEverySeconds: parseSeconds("--nar-verify-every", opts.narVerifyEvery, 1),
    narVerifyBudgetBytes: parseSize("--nar-verify-budget", opts.narVerifyBudget),
    maxRepoFiles: parseCount("--max-repo-files", opts.maxRepoFiles ?? (env.FLOX_MAX_REPO_FILES || undefined)),
    maxRepoBytes: parseSize("--max-repo-size", opts.maxRepoSize ?? (env.FLOX_MAX_REPO_SIZE || undefined)),
    evalMemoryBytes: parseEvalMemory(opts.evalMemory ?? (env.FLOX_EVAL_MEMORY || undefined)),
    gcSchedule: parseGcSchedule(opts.gcSchedule),
    storehouseTargetBytes: parseSize("--storehouse-target", opts.storehouseTarget),
    ...(opts.nixDaemon === false ? { nixDaemon: false } : {}),
  };
}
