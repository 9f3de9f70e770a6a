// The HTTP API v1: the builders' claim/lease API and the builders list (docs/API.md, "Builders").
import { z } from "zod";
import { BuildState } from "./builds.js";
import { Timestamp } from "./common.js";

const Word = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/, "letters, digits and . _ + - only");

export const ClaimBody = z.object({
  /** Unique per builder process; leases are counted per name against maxJobs. */
  builderName: Word,
  systems: z.array(Word).min(1).max(32),
  features: z.array(Word).max(64).default([]),
  maxJobs: z.number().int().min(1).max(1024).default(1),
  /**
   * Long-poll: when nothing is claimable now, the server holds the request up to this many ms and answers as soon
   * as a build becomes claimable (204 if none did). 0 or absent: answer at once.
   */
  waitMs: z.number().int().min(0).max(25_000).optional(),
});
export type ClaimBody = z.input<typeof ClaimBody>;

export const ClaimedBuild = z.object({
  id: z.number().int().positive(),
  drvPath: z.string(),
  system: z.string(),
  requiredFeatures: z.array(z.string()),
  outputs: z.record(z.string()),
  timeoutSeconds: z.number().int(),
  maxSilentSeconds: z.number().int(),
  attempt: z.number().int().positive(),
});
export type ClaimedBuild = z.infer<typeof ClaimedBuild>;

export const Lease = z.object({
  /** Name the lease with it in every later call; it stops working once the build is requeued or finished. */
  id: z.string().min(16),
  /** Milliseconds since the epoch. */
  expiresAt: z.number().int(),
  /** Heartbeat well before this many seconds pass. */
  seconds: z.number().int().positive(),
});
export type Lease = z.infer<typeof Lease>;

export const ClaimResponse = z.object({ build: ClaimedBuild, lease: Lease });
export type ClaimResponse = z.infer<typeof ClaimResponse>;

export const HeartbeatBody = z.object({ lease: z.string().min(1) });
export type HeartbeatBody = z.infer<typeof HeartbeatBody>;

export const HeartbeatResponse = z.object({ cancel: z.boolean(), leaseExpiresAt: z.number().int() });
export type HeartbeatResponse = z.infer<typeof HeartbeatResponse>;

export const BuildResultBody = z.object({
  lease: z.string().min(1),
  status: z.enum(["succeeded", "failed", "timed-out"]),
  /** The builder could not do its part (substitute, upload, …): the build is requeued, up to 3 attempts. */
  infrastructureError: z.string().max(4096).optional(),
  message: z.string().max(4096).optional(),
});
export type BuildResultBody = z.infer<typeof BuildResultBody>;

export const BuildResultResponse = z.object({ state: BuildState });
export type BuildResultResponse = z.infer<typeof BuildResultResponse>;

export const Builder = z.object({
  name: z.string(),
  systems: z.array(z.string()),
  features: z.array(z.string()),
  maxJobs: z.number().int(),
  lastSeen: Timestamp,
  /** Called in within the last minute, or holds a live lease. */
  connected: z.boolean(),
  running: z.array(
    z.object({
      build: z.number().int().positive(),
      drvPath: z.string(),
      attempt: z.number().int(),
      since: Timestamp,
    }),
  ),
  /** Builds it runs for orgs the asker may not read: counted, not shown. */
  otherRunning: z.number().int(),
});
export type Builder = z.infer<typeof Builder>;

/** Over every org: the builders are shared, and the queue's length is how long a new build waits. */
export const BuildQueue = z.object({ queued: z.number().int(), running: z.number().int() });
export type BuildQueue = z.infer<typeof BuildQueue>;

export const BuildersResponse = z.object({ builders: z.array(Builder), queue: BuildQueue });
export type BuildersResponse = z.infer<typeof BuildersResponse>;
