// The HTTP API v1 of the shared Nix daemon: what its build hook asks the server (`/internal/relay/*`, with the
// hook secret), and the org's relay activity log (`GET /orgs/:org/relay-sessions`).
import { z } from "zod";
import { BuildState } from "./builds.js";
import { Timestamp } from "./common.js";

/** The upgraded protocol of `GET /nix-daemon`: the Nix worker protocol, byte for byte, after a 101. */
export const NIX_DAEMON_PROTOCOL = "nix-daemon";
/** Where the relay lives on the server (not under /api/v1: it is not JSON). */
export const NIX_DAEMON_PATH = "/nix-daemon";
/** The client names its host with this header; the activity log keeps it beside the address the server saw. */
export const HOST_HEADER = "x-flox-host";

/**
 * `DATA_DIR/nix-daemon/hook.json` (mode 0600), written by the server at each start and read by the build hook
 * (hooks/build-hook/), which the shared daemon runs as root.
 */
export const BuildHookConfig = z.object({
  /** Loopback URL of the running server. */
  serverUrl: z.string(),
  /** Bearer token for `/api/v1/internal/relay/*`; new at every server start. */
  hookSecret: z.string(),
  /** The shared daemon's chroot store, into which the hook imports the outputs. */
  storeRoot: z.string(),
  /** The daemon's nix.conf directory: its substituter is the Storehouse and only the server's key is trusted. */
  nixConfDir: z.string(),
  /** HOME and caches of the Nix processes the hook runs. */
  homeDir: z.string(),
  /** A directory of Nix programs to run instead of PATH's (lib/nix-bin.ts). */
  nixBinDir: z.string().optional(),
});
export type BuildHookConfig = z.infer<typeof BuildHookConfig>;

/** `POST /internal/relay/builds`: the hook accepted a build of `drvPath` for the daemon worker `daemonPid`. */
export const RelayBuildBody = z
  .object({
    drvPath: z
      .string()
      .regex(/^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+\.drv$/, "must be a .drv store path"),
    /** The hook's parent: the daemon process serving one relayed connection. */
    daemonPid: z.number().int().positive(),
  })
  .strict();
export type RelayBuildBody = z.infer<typeof RelayBuildBody>;

/** The build the farm runs for it (queued, shared with others, or already done). */
export const RelayBuildResponse = z.object({
  build: z.object({ id: z.number().int().positive(), state: BuildState }),
  outputs: z.record(z.string()),
});
export type RelayBuildResponse = z.infer<typeof RelayBuildResponse>;

/** `GET /internal/relay/builds/:id?wait=S`: its state, answered once it finished or S seconds passed. */
export const RelayBuildStateResponse = z.object({
  state: BuildState,
  builder: z.string().nullable(),
  message: z.string().nullable(),
});
export type RelayBuildStateResponse = z.infer<typeof RelayBuildStateResponse>;

/** One relayed connection in the org's activity log, with the builds it asked the farm for. */
export const RelaySession = z.object({
  id: z.number().int().positive(),
  actor: z.string(),
  host: z.string().nullable(),
  remoteAddress: z.string().nullable(),
  startedAt: Timestamp,
  endedAt: Timestamp.nullable(),
  endReason: z.string().nullable(),
  builds: z.array(
    z.object({
      id: z.number().int().positive(),
      drvPath: z.string(),
      state: BuildState,
      /** Set once this connection stopped wanting it (the client hung up). */
      withdrawn: z.boolean(),
    }),
  ),
});
export type RelaySession = z.infer<typeof RelaySession>;

export const RelaySessionsResponse = z.object({ sessions: z.array(RelaySession) });
export type RelaySessionsResponse = z.infer<typeof RelaySessionsResponse>;
