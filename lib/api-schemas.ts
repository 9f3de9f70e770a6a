// The HTTP API v1 contract (docs/API.md) as zod schemas: the server validates with them, the CLI parses with them.
import { z } from "zod";

/** Org and user names: lowercase, digits and dashes, at most 39 characters (like GitHub's). */
export const nameRegex = /^[a-z0-9][a-z0-9-]{0,38}$/;

export const Name = z
  .string()
  .regex(nameRegex, "must be 1-39 characters of a-z, 0-9 and '-', starting with a letter or digit");
export type Name = z.infer<typeof Name>;

/** An org role, weakest last: owner > member > reader. */
export const Role = z.enum(["owner", "member", "reader"]);
export type Role = z.infer<typeof Role>;

export const TokenScope = z.enum(["admin", "org", "user", "builder", "machine"]);
export type TokenScope = z.infer<typeof TokenScope>;

/** `flox_` and 43 base64url characters (32 random bytes). */
export const tokenSecretRegex = /^flox_[A-Za-z0-9_-]{43}$/;

/** A git object id: sha1 (40 hex) or sha256 (64 hex). */
/** A branch name as git allows it, roughly: what matters is that it is one, not a path trick (`..`, empty parts). */
export const Branch = z
  .string()
  .min(1)
  .max(255)
  .refine((b) => !b.split("/").some((part) => part === "" || part === "." || part === ".."), {
    message: "is not a branch name",
  });

export const Sha = z
  .string()
  .regex(/^([0-9a-f]{40}|[0-9a-f]{64})$/, "must be a 40- or 64-character hex object id");

/** ISO 8601 timestamp as the server writes it (`new Date().toISOString()`). */
const Timestamp = z.string();

// ---- resources ----

export const Org = z.object({
  name: Name,
  displayName: z.string(),
  /** Public orgs' CI pages, API reads, badges, channels and build logs need no token; private ones are invisible. */
  public: z.boolean(),
  createdAt: Timestamp,
  /** Clone URL, e.g. `http://HOST/acme/nixexprs.git`. */
  repoUrl: z.string(),
});
export type Org = z.infer<typeof Org>;

export const User = z.object({ name: Name, createdAt: Timestamp });
export type User = z.infer<typeof User>;

export const Member = z.object({ user: Name, org: Name, role: Role });
export type Member = z.infer<typeof Member>;

export const TokenInfo = z.object({
  id: z.number().int().positive(),
  name: z.string().nullable(),
  scope: TokenScope,
  /** Set for `org` and `machine` tokens. */
  org: Name.nullable(),
  /** Set for `org` tokens. */
  role: Role.nullable(),
  /** Set for `user` tokens. */
  user: Name.nullable(),
  /** First 10 characters of the secret, to tell tokens apart. */
  prefix: z.string(),
  createdAt: Timestamp,
  lastUsedAt: Timestamp.nullable(),
  revokedAt: Timestamp.nullable(),
});
export type TokenInfo = z.infer<typeof TokenInfo>;

export const PushSource = z.enum(["hook", "reconciled"]);
export type PushSource = z.infer<typeof PushSource>;

export const Push = z.object({
  id: z.number().int().positive(),
  org: Name,
  /** Full ref name, e.g. `refs/heads/main`. */
  ref: z.string(),
  /** All zeros when the ref was created. */
  oldSha: Sha,
  /** All zeros when the ref was deleted. */
  newSha: Sha,
  pushOptions: z.array(z.string()),
  source: PushSource,
  receivedAt: Timestamp,
});
export type Push = z.infer<typeof Push>;

/** Every error answer: `{"error": {"code": "snake_case", "message": "..."}}`. */
export const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export type ErrorBody = z.infer<typeof ErrorBody>;

// ---- request bodies ----

export const CreateOrgBody = z
  .object({
    name: Name,
    displayName: z.string().trim().min(1).max(200).optional(),
    /** Default false: a private org is invisible to anyone without a role there. */
    public: z.boolean().optional(),
  })
  .strict();
export type CreateOrgBody = z.infer<typeof CreateOrgBody>;

export const UpdateOrgBody = z.object({ public: z.boolean() }).strict();
export type UpdateOrgBody = z.infer<typeof UpdateOrgBody>;

export const CreateUserBody = z.object({ name: Name }).strict();
export type CreateUserBody = z.infer<typeof CreateUserBody>;

export const PutMemberBody = z.object({ role: Role }).strict();
export type PutMemberBody = z.infer<typeof PutMemberBody>;

/**
 * `org` tokens need `org` and `role`; `user` tokens need `user`; `machine` tokens need `org` (the org whose profiles
 * and channels the machine may follow); the other scopes take none of them.
 * `name` is a free-form label (e.g. "ci on laptop").
 */
export const CreateTokenBody = z
  .object({
    scope: TokenScope,
    org: Name.optional(),
    role: Role.optional(),
    user: Name.optional(),
    name: z.string().trim().min(1).max(100).optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    const extra = (field: "org" | "role" | "user") =>
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [field],
        message: `is not allowed for scope "${body.scope}"`,
      });
    const missing = (field: "org" | "role" | "user") =>
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [field],
        message: `is required for scope "${body.scope}"`,
      });
    if (body.scope === "org") {
      if (body.org === undefined) missing("org");
      if (body.role === undefined) missing("role");
      if (body.user !== undefined) extra("user");
    } else if (body.scope === "user") {
      if (body.user === undefined) missing("user");
      if (body.org !== undefined) extra("org");
      if (body.role !== undefined) extra("role");
    } else if (body.scope === "machine") {
      // A machine belongs to one org: it may follow that org's profiles and channels, nothing else.
      if (body.org === undefined) missing("org");
      if (body.role !== undefined) extra("role");
      if (body.user !== undefined) extra("user");
    } else {
      if (body.org !== undefined) extra("org");
      if (body.role !== undefined) extra("role");
      if (body.user !== undefined) extra("user");
    }
  });
export type CreateTokenBody = z.infer<typeof CreateTokenBody>;

/** Sent by the post-receive hook, one per updated ref, with the hook secret as Bearer token. */
export const InternalPushBody = z
  .object({
    org: Name,
    ref: z.string().regex(/^refs\/\S+$/, "must be a full ref name such as refs/heads/main"),
    oldSha: Sha,
    newSha: Sha,
    pushOptions: z.array(z.string()).default([]),
  })
  .strict();
export type InternalPushBody = z.input<typeof InternalPushBody>;

// ---- responses ----

export const HealthResponse = z.object({ ok: z.literal(true), version: z.string() });
export type HealthResponse = z.infer<typeof HealthResponse>;

/** GET /api/v1/base-set: what packages' arguments resolve from after the org's own (lib/base-set-info.ts). */
export const BaseSetResponse = z.object({
  baseSet: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("bootstrap"), system: z.string(), digest: z.string() }),
    z.object({
      kind: z.literal("nixpkgs"),
      system: z.string(),
      name: z.string(),
      version: z.string().nullable(),
    }),
  ]),
});
export type BaseSetResponse = z.infer<typeof BaseSetResponse>;

export const WhoamiResponse = z.object({ token: TokenInfo });
export type WhoamiResponse = z.infer<typeof WhoamiResponse>;

export const OrgResponse = z.object({ org: Org });
export type OrgResponse = z.infer<typeof OrgResponse>;

export const OrgsResponse = z.object({ orgs: z.array(Org) });
export type OrgsResponse = z.infer<typeof OrgsResponse>;

export const UserResponse = z.object({ user: User });
export type UserResponse = z.infer<typeof UserResponse>;

export const UsersResponse = z.object({ users: z.array(User) });
export type UsersResponse = z.infer<typeof UsersResponse>;

export const MemberResponse = z.object({ member: Member });
export type MemberResponse = z.infer<typeof MemberResponse>;

export const MembersResponse = z.object({ members: z.array(Member) });
export type MembersResponse = z.infer<typeof MembersResponse>;

/** The secret is in this answer only; the server keeps its sha256. */
export const CreateTokenResponse = z.object({ token: TokenInfo, secret: z.string() });
export type CreateTokenResponse = z.infer<typeof CreateTokenResponse>;

export const TokensResponse = z.object({ tokens: z.array(TokenInfo) });
export type TokensResponse = z.infer<typeof TokensResponse>;

export const PushResponse = z.object({ push: Push });
export type PushResponse = z.infer<typeof PushResponse>;

/** Newest first. */
export const PushesResponse = z.object({ pushes: z.array(Push) });
export type PushesResponse = z.infer<typeof PushesResponse>;

// ---- server ↔ hooks ----

/**
 * `DATA_DIR/run/hooks.json`, written by the server at every start (mode 0600) and read by the git hooks.
 * Each repo's `git config flox.runFile` points at it.
 */
export const HookRunFile = z.object({
  /** Loopback URL of the running server, e.g. `http://127.0.0.1:8080`. */
  serverUrl: z.string(),
  /** Bearer token for `/api/v1/internal/*`; new at every server start. */
  hookSecret: z.string(),
  /** Largest file a push may contain, in bytes. */
  maxFileSize: z.number().int().positive(),
  /** Most files (and bytes of files) a pushed tree may hold; lib/git-tree's defaults when absent. */
  maxRepoFiles: z.number().int().positive().optional(),
  maxRepoBytes: z.number().int().positive().optional(),
  /** Address space of each nix-instantiate (RLIMIT_AS); lib/limited-command's default when absent. */
  evalMemoryBytes: z.number().int().positive().optional(),
  /** The server's chroot Nix store root (`--store <storeRoot>`). */
  storeRoot: z.string(),
  /** Holds `bin/busybox` and `bin/sh` for the bootstrap base set. */
  busyboxDir: z.string(),
  /** `--base`: a nixpkgs tree to use instead of the bootstrap base set, or null. */
  basePath: z.string().nullable(),
  system: z.string(),
});
export type HookRunFile = z.infer<typeof HookRunFile>;

// ---- CI: jobsets and evaluations (docs/API.md, "Evaluations") ----

export const EvaluationState = z.enum(["queued", "running", "succeeded", "failed", "skipped"]);
export type EvaluationState = z.infer<typeof EvaluationState>;

export const BuildState = z.enum([
  "queued",
  "cached",
  "running",
  "succeeded",
  "failed",
  "dependency-failed",
  "cancelled",
  "timed-out",
  "aborted",
]);
export type BuildState = z.infer<typeof BuildState>;

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

/** `POST /internal/pushes`: the record, and the evaluation it started (null for tags and deletions). */
export const InternalPushResponse = PushResponse.extend({ evaluation: Evaluation.nullable() });
export type InternalPushResponse = z.infer<typeof InternalPushResponse>;

/** `GET /internal/pushes/:id/evaluation?wait=S`: answered when it finished, or when S seconds passed. */
export const PushEvaluationResponse = z.object({
  evaluation: Evaluation.nullable(),
  problems: z.array(EvalProblem),
});
export type PushEvaluationResponse = z.infer<typeof PushEvaluationResponse>;

// ---- `git push -o wait`: the post-receive hook keeps the push open until its builds finished ----

/** `POST /internal/receives/waiting`: the hook names its push by org and its `git receive-pack` (its parent). */
export const ReceiveWaitingBody = z.object({ org: Name, pid: z.number().int().positive() }).strict();
export type ReceiveWaitingBody = z.infer<typeof ReceiveWaitingBody>;

/** The push's repo lock is given up; `receive` names the push in the calls that follow. */
export const ReceiveWaitingResponse = z.object({ receive: z.string() });
export type ReceiveWaitingResponse = z.infer<typeof ReceiveWaitingResponse>;

/** `POST /internal/receives/:id/verdict`: `ok: false` makes `git push` print `message` and exit non-zero. */
export const ReceiveVerdictBody = z.object({ ok: z.boolean(), message: z.string().max(4000) }).strict();
export type ReceiveVerdictBody = z.infer<typeof ReceiveVerdictBody>;

/** `delivered`: false when the client is gone (nobody will see it). */
export const ReceiveVerdictResponse = z.object({ delivered: z.boolean() });
export type ReceiveVerdictResponse = z.infer<typeof ReceiveVerdictResponse>;

/** `GET /internal/evaluations/:id/progress?wait=S&since=V&receive=R`: answered when `version` differs from V. */
export const EvaluationProgressResponse = z.object({
  evaluation: Evaluation,
  /** Per-package problems, once the evaluation finished. */
  problems: z.array(EvalProblem),
  jobs: z.array(
    z.object({ attr: z.string(), build: z.object({ id: z.number().int().positive(), state: BuildState }) }),
  ),
  /** Changes whenever the evaluation's state or one of its builds' states does. */
  version: z.string(),
  /** False once the push `receive` names has lost its client (Ctrl-C): nobody is watching any more. */
  connected: z.boolean(),
});
export type EvaluationProgressResponse = z.infer<typeof EvaluationProgressResponse>;

// ---- Builders: the claim/lease API (docs/API.md, "Builders") ----

const Word = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$/, "letters, digits and . _ + - only");

export const ClaimBody = z.object({
  /** Unique per builder process; leases are counted per name against maxJobs. */
  builderName: Word,
  systems: z.array(Word).min(1).max(32),
  features: z.array(Word).max(64).default([]),
  maxJobs: z.number().int().min(1).max(1024).default(1),
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

// ---- Builds and builders, as people see them (docs/API.md, "Builds") ----

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

/** `GET /storehouse`: the binary cache in figures (no path names: those are the orgs' business). */
export const StorehouseSummary = z.object({
  /** The cache URL for `substituters` / `nix copy --to`. */
  url: z.string(),
  /** For `trusted-public-keys`. */
  publicKey: z.string(),
  /** Reads need a token (`flox server --private-cache`). */
  private: z.boolean(),
  paths: z.number().int(),
  narBytes: z.number().int(),
  fileBytes: z.number().int(),
  lastUploadAt: Timestamp.nullable(),
});
export type StorehouseSummary = z.infer<typeof StorehouseSummary>;

export const StorehouseResponse = z.object({ storehouse: StorehouseSummary });
export type StorehouseResponse = z.infer<typeof StorehouseResponse>;

/** `POST /storehouse/sweep` (admin): the orphaned NAR files and stale temp files it deleted. */
export const StorehouseSweepResponse = z.object({
  removed: z.object({ nars: z.array(z.string()), tmp: z.array(z.string()) }),
});
export type StorehouseSweepResponse = z.infer<typeof StorehouseSweepResponse>;

/** `POST /storehouse/verify` (admin): one bounded run of the NAR check; the files it quarantined. */
export const StorehouseVerifyResponse = z.object({
  checked: z.number().int(),
  quarantined: z.array(
    z.object({ narFile: z.string(), storePaths: z.array(z.string()), reason: z.string() }),
  ),
});
export type StorehouseVerifyResponse = z.infer<typeof StorehouseVerifyResponse>;

// ---- Channels (docs/API.md, "Channels") ----

export const ChannelPoint = z.object({
  id: z.number().int().positive(),
  evaluation: z.number().int().positive(),
  commitSha: Sha,
  /** `advanced`: CI moved it to a green evaluation; `pinned`: a person put it there. */
  reason: z.enum(["advanced", "pinned"]),
  /** Who pinned it (token name or user); null when CI advanced it. */
  actor: z.string().nullable(),
  createdAt: Timestamp,
});
export type ChannelPoint = z.infer<typeof ChannelPoint>;

export const Channel = z.object({
  /** `acme` for branch main, `acme/B` for branch B. */
  name: z.string(),
  org: Name,
  branch: z.string(),
  /** The Nix channel URL (`nix-channel --add URL NAME`). */
  url: z.string(),
  /** Pinned channels do not follow new green evaluations until unpinned. */
  pinned: z.boolean(),
  /** Where it points now; null before the first green evaluation. */
  current: ChannelPoint.nullable(),
  /** attr → out path (the `out` output, or the first) of every package it publishes. */
  packages: z.record(z.string()),
});
export type Channel = z.infer<typeof Channel>;

export const ChannelResponse = z.object({ channel: Channel });
export type ChannelResponse = z.infer<typeof ChannelResponse>;

export const ChannelsResponse = z.object({ channels: z.array(Channel.omit({ packages: true })) });
export type ChannelsResponse = z.infer<typeof ChannelsResponse>;

/** What a move changed in the published packages (attr names, sorted); `changed`: same attr, other out path. */
export const PackageChanges = z.object({
  added: z.array(z.string()),
  removed: z.array(z.string()),
  changed: z.array(z.string()),
});
export type PackageChanges = z.infer<typeof PackageChanges>;

/** A point of a channel's history with what it changed against the point before (the first: all added). */
export const ChannelHistoryPoint = ChannelPoint.extend({ changes: PackageChanges });
export type ChannelHistoryPoint = z.infer<typeof ChannelHistoryPoint>;

/** Oldest first. */
export const ChannelHistoryResponse = z.object({ history: z.array(ChannelHistoryPoint) });
export type ChannelHistoryResponse = z.infer<typeof ChannelHistoryResponse>;

export const PinChannelBody = z.object({ evaluation: z.number().int().positive() }).strict();
export type PinChannelBody = z.infer<typeof PinChannelBody>;

// ---- Profiles and generations (docs/API.md, "Profiles") ----

export const ProfileEntry = z.object({
  /** How it is named in `remove` (the attr, or the store path's name). */
  label: z.string(),
  /** `acme#hello` (followed) or `/nix/store/…` (pinned). */
  source: z.string(),
  name: z.string(),
  system: z.string(),
  outputs: z.record(z.string()),
  priority: z.number().int(),
});
export type ProfileEntry = z.infer<typeof ProfileEntry>;

export const ProfileEvent = z.object({
  action: z.string(),
  from: z.number().int().nullable(),
  to: z.number().int().nullable(),
  author: z.string(),
  host: z.string().nullable(),
  command: z.string().nullable(),
  reason: z.string().nullable(),
  createdAt: Timestamp,
});
export type ProfileEvent = z.infer<typeof ProfileEvent>;

export const Generation = z.object({
  number: z.number().int().positive(),
  /** The user environment in the Storehouse: `nix-store -r` it anywhere. */
  storePath: z.string(),
  entries: z.array(ProfileEntry),
  live: z.boolean(),
  createdAt: Timestamp,
  /** The change that made it: who, from where, with which command, why. */
  madeBy: ProfileEvent.nullable(),
  /** Against the generation numbered before it. */
  changes: z.object({
    added: z.array(z.string()),
    removed: z.array(z.string()),
    changed: z.array(z.string()),
  }),
});
export type Generation = z.infer<typeof Generation>;

export const Profile = z.object({
  org: Name,
  name: Name,
  /** Generation number that is live, null before the first install. */
  current: z.number().int().nullable(),
  storePath: z.string().nullable(),
  entries: z.array(ProfileEntry),
  createdAt: Timestamp,
});
export type Profile = z.infer<typeof Profile>;

/** Who asks, from where, why: the CLI fills host and command; the author comes from the token. */
const ChangeFields = {
  host: z.string().max(255).optional(),
  command: z.string().max(2000).optional(),
  reason: z.string().max(2000).optional(),
};

export const CreateProfileBody = z.object({ name: Name, ...ChangeFields }).strict();
export type CreateProfileBody = z.infer<typeof CreateProfileBody>;

export const InstallBody = z
  .object({
    refs: z.array(z.string().min(1).max(500)).min(1).max(100),
    priority: z.number().int().min(-1000).max(1000).default(5),
    ...ChangeFields,
  })
  .strict();
export type InstallBody = z.input<typeof InstallBody>;

export const RemoveBody = z
  .object({ labels: z.array(z.string().min(1).max(255)).min(1).max(100), ...ChangeFields })
  .strict();
export type RemoveBody = z.infer<typeof RemoveBody>;

export const UpgradeBody = z.object({ ...ChangeFields }).strict();
export type UpgradeBody = z.infer<typeof UpgradeBody>;

export const RollbackBody = z
  .object({ to: z.number().int().positive().optional(), ...ChangeFields })
  .strict();
export type RollbackBody = z.infer<typeof RollbackBody>;

export const ProfileResponse = z.object({ profile: Profile });
export type ProfileResponse = z.infer<typeof ProfileResponse>;

export const ProfilesResponse = z.object({ profiles: z.array(Profile) });
export type ProfilesResponse = z.infer<typeof ProfilesResponse>;

/** `generation` is null when nothing changed (an upgrade that found nothing new makes none). */
export const ProfileEditResponse = z.object({ profile: Profile, generation: Generation.nullable() });
export type ProfileEditResponse = z.infer<typeof ProfileEditResponse>;

export const GenerationsResponse = z.object({
  generations: z.array(Generation),
  events: z.array(ProfileEvent),
});
export type GenerationsResponse = z.infer<typeof GenerationsResponse>;

export const GenerationDiffResponse = z.object({
  from: z.number().int(),
  to: z.number().int(),
  added: z.array(z.string()),
  removed: z.array(z.string()),
  changed: z.array(z.string()),
});
export type GenerationDiffResponse = z.infer<typeof GenerationDiffResponse>;

// ---- Auto-upgrade schedules (docs/API.md, "Schedules") ----

export const ScheduleBody = z
  .object({
    kind: z.enum(["on-publish", "cron", "off"]),
    /** With kind cron: 5 fields, or 6 with seconds first (croner). */
    cron: z.string().min(1).max(200).optional(),
    /** Machines apply a new generation after their own random delay up to this. */
    jitterSeconds: z
      .number()
      .int()
      .min(0)
      .max(7 * 24 * 3600)
      .optional(),
  })
  .strict();
export type ScheduleBody = z.infer<typeof ScheduleBody>;

export const Schedule = z.object({
  kind: z.enum(["on-publish", "cron", "off"]),
  cron: z.string().nullable(),
  jitterSeconds: z.number().int(),
  lastRunAt: Timestamp.nullable(),
  nextRunAt: Timestamp.nullable(),
});
export type Schedule = z.infer<typeof Schedule>;

export const ScheduleResponse = z.object({ schedule: Schedule });
export type ScheduleResponse = z.infer<typeof ScheduleResponse>;

// ---- Machines and subscriptions (docs/API.md, "Machines") ----

/** A machine's name: a host name, say (letters, digits, `.`, `_`, `-`; up to 63). */
export const MachineName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "must be 1-63 letters, digits, '.', '_' or '-' (a host name)");

export const RegisterMachineBody = z.object({ name: MachineName }).strict();
export type RegisterMachineBody = z.infer<typeof RegisterMachineBody>;

/** `ORG/NAME`. */
export const ProfileSpec = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,38}\/[a-z0-9][a-z0-9-]{0,38}$/, "must be ORG/PROFILE, e.g. acme/dev");

/** `ORG` (branch main) or `ORG/BRANCH`. */
export const ChannelSpec = z
  .string()
  .min(1)
  .max(300)
  .regex(/^[a-z0-9][a-z0-9-]{0,38}(\/.+)?$/, "must be ORG or ORG/BRANCH, e.g. acme or acme/staging");

/** Exactly one of `profile` and `channel`. */
export const SubscriptionBody = z
  .object({ profile: ProfileSpec.optional(), channel: ChannelSpec.optional() })
  .strict()
  .refine((b) => (b.profile === undefined) !== (b.channel === undefined), {
    message: "give exactly one of profile (ORG/NAME) and channel (ORG or ORG/BRANCH)",
  });
export type SubscriptionBody = z.infer<typeof SubscriptionBody>;

export const Subscription = z.object({
  kind: z.enum(["profile", "channel"]),
  /** `acme/dev` (profile) or `acme`, `acme/staging` (channel). */
  name: z.string(),
  createdAt: Timestamp,
});
export type Subscription = z.infer<typeof Subscription>;

/** What the machine last reported for one profile. */
export const MachineProfileState = z.object({
  profile: z.string(),
  /** The generation it runs (its last `ok` report); null before the first. */
  running: z.number().int().nullable(),
  /** The generation of its last report, and how that went. */
  generation: z.number().int(),
  status: z.enum(["ok", "failed"]),
  message: z.string().nullable(),
  reportedAt: Timestamp,
});
export type MachineProfileState = z.infer<typeof MachineProfileState>;

export const Machine = z.object({
  name: z.string(),
  org: Name,
  createdAt: Timestamp,
  /** Its last connect, disconnect or report; null before any. */
  lastSeen: Timestamp.nullable(),
  /** Its event stream is open now. */
  connected: z.boolean(),
  subscriptions: z.array(Subscription),
  profiles: z.array(MachineProfileState),
});
export type Machine = z.infer<typeof Machine>;

export const MachineResponse = z.object({ machine: Machine });
export type MachineResponse = z.infer<typeof MachineResponse>;

export const MachinesResponse = z.object({ machines: z.array(Machine) });
export type MachinesResponse = z.infer<typeof MachinesResponse>;

export const ReportBody = z
  .object({
    profile: ProfileSpec,
    generation: z.number().int().positive(),
    status: z.enum(["ok", "failed"]),
    message: z.string().max(4000).optional(),
  })
  .strict();
export type ReportBody = z.infer<typeof ReportBody>;

/**
 * An event of `GET /machines/me/events` (SSE; the `event:` field is `kind`). With an `id` it is a change from the
 * feed (the SSE id, for Last-Event-ID); `snapshot: true` (no id) is the subscription's current state, sent on connect
 * and when a subscription is added.
 */
export const ProfileChange = z.object({
  kind: z.literal("profile"),
  id: z.number().int().positive().nullable(),
  snapshot: z.boolean(),
  /** `acme/dev`. */
  profile: z.string(),
  /** The live generation and its user environment; null only in the snapshot of a profile with none yet. */
  generation: z.number().int().positive().nullable(),
  storePath: z.string().nullable(),
  /** install, remove, upgrade, rollback; `current` in snapshots. */
  action: z.string(),
  /** The generation live before (null before the first, and in snapshots). */
  from: z.number().int().nullable(),
  /** Apply after a random delay up to this (the profile schedule's jitter; scheduled upgrades only). */
  jitterSeconds: z.number().int().nonnegative(),
  createdAt: Timestamp,
});
export type ProfileChange = z.infer<typeof ProfileChange>;

export const ChannelChange = z.object({
  kind: z.literal("channel"),
  id: z.number().int().positive().nullable(),
  snapshot: z.boolean(),
  /** `acme` or `acme/B`. */
  channel: z.string(),
  /** Where it points; null only in the snapshot of a channel with no green evaluation yet. */
  evaluation: z.number().int().positive().nullable(),
  commitSha: z.string().nullable(),
  point: z.number().int().positive().nullable(),
  /** advanced, pinned; `current` in snapshots. */
  action: z.string(),
  createdAt: Timestamp,
});
export type ChannelChange = z.infer<typeof ChannelChange>;

/** Sent (without an id) on a live stream when the machine stops following a profile or channel. */
export const Unsubscribed = z.object({
  kind: z.literal("unsubscribed"),
  id: z.null(),
  /** `acme/dev` or `acme/B`: the profile or channel no longer followed. */
  name: z.string(),
  of: z.enum(["profile", "channel"]),
});
export type Unsubscribed = z.infer<typeof Unsubscribed>;

export const MachineEvent = z.discriminatedUnion("kind", [ProfileChange, ChannelChange, Unsubscribed]);
export type MachineEvent = z.infer<typeof MachineEvent>;

/** `event: ready`: the missed events and the snapshots were sent; what follows is live. */
export const ReadyEvent = z.object({ last: z.number().int().nonnegative() });
export type ReadyEvent = z.infer<typeof ReadyEvent>;

/** `GET /profiles/:org/:name/status`: the rollout of the live generation over the subscribed machines. */
export const ProfileStatus = z.object({
  profile: z.string(),
  live: z.number().int().nullable(),
  storePath: z.string().nullable(),
  /** Subscribed machines per generation they run (null: none reported ok yet), most first. */
  counts: z.array(z.object({ generation: z.number().int().nullable(), machines: z.number().int() })),
  machines: z.array(
    z.object({
      machine: z.string(),
      running: z.number().int().nullable(),
      /** Not on the live generation. */
      lagging: z.boolean(),
      /** The last report, if any. */
      generation: z.number().int().nullable(),
      status: z.enum(["ok", "failed"]).nullable(),
      message: z.string().nullable(),
      reportedAt: Timestamp.nullable(),
      lastSeen: Timestamp.nullable(),
      connected: z.boolean(),
    }),
  ),
  summary: z.object({
    machines: z.number().int(),
    onLive: z.number().int(),
    lagging: z.number().int(),
    failed: z.number().int(),
  }),
});
export type ProfileStatus = z.infer<typeof ProfileStatus>;

export const ProfileStatusResponse = z.object({ status: ProfileStatus });
export type ProfileStatusResponse = z.infer<typeof ProfileStatusResponse>;
