// The HTTP API v1: builds as people see them (docs/API.md, "Builds").
import { z } from "zod";
import { Timestamp } from "./common.js";
import { buildStates } from "./enums.js";

export const BuildState = z.enum(buildStates);
export type BuildState = z.infer<typeof BuildState>;

export const BuildRef = z.object({ id: z.number().int().positive(), state: BuildState });
export type BuildRef = z.infer<typeof BuildRef>;

export const Build = z.object({
  id: z.number().int().positive(),
  drvPath: z.string(),
  system: z.string(),
  requiredFeatures: z.array(z.string()),
  outputs: z.record(z.string()),
  state: BuildState,
  /** Higher runs first. */
  priority: z.number().int(),
  attempts: z.number().int().nonnegative(),
  /** Who runs it now, or ran its last attempt. */
  builder: z.string().nullable(),
  /** Why it ended as it did (the last infrastructure error, Nix's exit), when known. */
  message: z.string().nullable(),
  /**
   * Where it is wanted: the newest job per org, branch and attr (at most 10), of the orgs the asker may read;
   * each job's `state` is `cancelled` once its org withdrew its want, whatever the build does for others.
   */
  jobs: z.array(
    z.object({
      org: z.string(),
      branch: z.string(),
      attr: z.string(),
      evaluation: z.number().int(),
      state: BuildState,
    }),
  ),
  /** Jobs (per org, branch and attr) of orgs the asker may not read: counted, never named. */
  otherJobs: z.number().int().nonnegative(),
  /**
   * Relayed Nix daemon connections that asked the farm for it (`flox daemon`, `flox nix`), of the orgs the asker
   * may read, newest first (at most 10): who, from which host; `state` is `cancelled` once that client hung up.
   */
  relay: z.array(
    z.object({
      org: z.string(),
      actor: z.string(),
      host: z.string().nullable(),
      session: z.number().int(),
      state: BuildState,
    }),
  ),
  createdAt: Timestamp,
  startedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
});
export type Build = z.infer<typeof Build>;

export const BuildDetail = Build.extend({
  /** The builds it waits for. */
  dependsOn: z.array(BuildRef),
  /** The builds waiting for it. */
  dependents: z.array(BuildRef),
});
export type BuildDetail = z.infer<typeof BuildDetail>;

export const BuildsResponse = z.object({ builds: z.array(Build) });
export type BuildsResponse = z.infer<typeof BuildsResponse>;

export const BuildResponse = z.object({ build: BuildDetail });
export type BuildResponse = z.infer<typeof BuildResponse>;

/** `POST /builds/:id/priority`: a number, or nothing to go ahead of everything queued now. */
export const PriorityBody = z.object({ priority: z.number().int().min(-1000000).max(1000000).optional() });
export type PriorityBody = z.infer<typeof PriorityBody>;

/** What a cancel or restart changed: the builds whose state it set. */
export const BuildsChangedResponse = z.object({ changed: z.array(z.number().int().positive()) });
export type BuildsChangedResponse = z.infer<typeof BuildsChangedResponse>;
