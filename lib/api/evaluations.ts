// The HTTP API v1: jobsets and evaluations (docs/API.md, "Evaluations").
import { z } from "zod";
import { BuildState } from "./builds.js";
import { Name, Sha, Timestamp } from "./common.js";
import { evaluationStates } from "./enums.js";

export const EvaluationState = z.enum(evaluationStates);
export type EvaluationState = z.infer<typeof EvaluationState>;

/** How the jobs of one evaluation met the build queue. `jobs` = newBuilds + sharedBuilds + cachedBuilds + failedBuilds. */
export const EvaluationCounts = z.object({
  jobs: z.number().int().nonnegative(),
  problems: z.number().int().nonnegative(),
  /** Builds this evaluation queued ("to build"). */
  newBuilds: z.number().int().nonnegative(),
  /** Builds another evaluation had queued or was running already ("already queued"), shared. */
  sharedBuilds: z.number().int().nonnegative(),
  /** Outputs already built: in the Storehouse, or a build that succeeded ("already built"). */
  cachedBuilds: z.number().int().nonnegative(),
  /** Builds that failed before; not retried by a new evaluation ("failed before"). */
  failedBuilds: z.number().int().nonnegative(),
});
export type EvaluationCounts = z.infer<typeof EvaluationCounts>;

export const Evaluation = z.object({
  id: z.number().int().positive(),
  org: Name,
  /** The jobset: the branch name without `refs/heads/`. */
  branch: z.string(),
  pushId: z.number().int().positive(),
  commitSha: Sha,
  state: EvaluationState,
  /** Why the evaluation itself failed (per-package problems are separate). */
  error: z.string().nullable(),
  counts: EvaluationCounts,
  createdAt: Timestamp,
  startedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
});
export type Evaluation = z.infer<typeof Evaluation>;

export const EvalProblem = z.object({
  /** The package, or null when the problem is outside `pkgs/<name>/`. */
  attr: z.string().nullable(),
  path: z.string(),
  line: z.number().int(),
  message: z.string(),
  hint: z.string().nullable(),
});
export type EvalProblem = z.infer<typeof EvalProblem>;

export const EvalJob = z.object({
  attr: z.string(),
  name: z.string(),
  system: z.string(),
  drvPath: z.string(),
  outputs: z.record(z.string()),
  build: z.object({ id: z.number().int().positive(), state: BuildState }),
});
export type EvalJob = z.infer<typeof EvalJob>;

/** Per attr, against the previous evaluation of the jobset that succeeded. A package with a problem counts as failing. */
export const EvalComparison = z.object({
  /** The evaluation compared with; null when this is the jobset's first (then nothing is listed). */
  previous: z.number().int().positive().nullable(),
  new: z.array(z.string()),
  removed: z.array(z.string()),
  newlyFailed: z.array(z.string()),
  fixed: z.array(z.string()),
  stillFailing: z.array(z.string()),
});
export type EvalComparison = z.infer<typeof EvalComparison>;

export const EvaluationDetail = Evaluation.extend({
  jobs: z.array(EvalJob),
  problems: z.array(EvalProblem),
  comparison: EvalComparison,
});
export type EvaluationDetail = z.infer<typeof EvaluationDetail>;

export const Jobset = z.object({
  org: Name,
  branch: z.string(),
  createdAt: Timestamp,
  /** The newest evaluation, whatever its state. */
  latest: Evaluation.nullable(),
});
export type Jobset = z.infer<typeof Jobset>;

export const JobsetsResponse = z.object({ jobsets: z.array(Jobset) });
export type JobsetsResponse = z.infer<typeof JobsetsResponse>;

/** Newest first. */
export const EvaluationsResponse = z.object({ evaluations: z.array(Evaluation) });
export type EvaluationsResponse = z.infer<typeof EvaluationsResponse>;

export const EvaluationResponse = z.object({ evaluation: EvaluationDetail });
export type EvaluationResponse = z.infer<typeof EvaluationResponse>;
