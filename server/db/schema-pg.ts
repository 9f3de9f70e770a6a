// The PostgreSQL twin of schema.ts (the SQLite tables): same tables, columns and constraints, in PostgreSQL's own
// types (timestamptz, jsonb, boolean, bigint). server/db/schemas.test.ts proves the two agree on real databases.
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
} from "drizzle-orm/pg-core";
import { buildStates, evaluationStates, pushSources, roles, tokenScopes } from "../../lib/api/enums.js";
import type { ProfileEntry } from "./schema.js";

/**
 * `timestamptz` with millisecond precision, read and written as the ISO 8601 strings the API and the SQLite
 * schema use (`2026-12-05T23:41:22.123Z`), so one query text serves both dialects.
 */
const timestamp = customType<{ data: string; driverData: Date | string }>({
  dataType: () => "timestamp (3) with time zone",
  toDriver: (value) => value,
  fromDriver: (value) => (value instanceof Date ? value : new Date(value)).toISOString(),
});

const now = sql`now()`;

export const orgs = pgTable("orgs", {
  id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
  name: text("name").notNull().unique(),
  displayName: text("display_name").notNull(),
  /** Public: its CI pages, API reads, badges, channels and build logs are readable by anyone (Hydra's model). */
  public: boolean("public").notNull().default(false),
  /** Machine tokens of the org may use the shared Nix daemon (`flox org set acme --machine-builds on`). */
  machineBuilds: boolean("machine_builds").notNull().default(false),
  createdAt: timestamp("created_at").notNull().default(now),
});

export const users = pgTable("users", {
  id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
  name: text("name").notNull().unique(),
  createdAt: timestamp("created_at").notNull().default(now),
});

export const memberships = pgTable(
  "memberships",
  {
    orgId: integer("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    role: text("role", { enum: roles }).notNull(),
    createdAt: timestamp("created_at").notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.orgId, t.userId] }), index("memberships_user_idx").on(t.userId)],
);

export const tokens = pgTable(
  "tokens",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    /** sha256 hex of the secret; the secret itself is never stored. */
    hash: text("hash").notNull(),
    scope: text("scope", { enum: tokenScopes }).notNull(),
    orgId: integer("org_id").references(() => orgs.id, { onDelete: "cascade" }),
    role: text("role", { enum: roles }),
    userId: integer("user_id").references(() => users.id, { onDelete: "cascade" }),
    name: text("name"),
    prefix: text("prefix").notNull(),
    createdAt: timestamp("created_at").notNull().default(now),
    lastUsedAt: timestamp("last_used_at"),
    revokedAt: timestamp("revoked_at"),
  },
  (t) => [uniqueIndex("tokens_hash_idx").on(t.hash), index("tokens_org_idx").on(t.orgId)],
);

export const pushes = pgTable(
  "pushes",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    orgId: integer("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    ref: text("ref").notNull(),
    oldSha: text("old_sha").notNull(),
    newSha: text("new_sha").notNull(),
    pushOptions: jsonb("push_options").$type<string[]>().notNull(),
    source: text("source", { enum: pushSources }).notNull(),
    receivedAt: timestamp("received_at").notNull().default(now),
  },
  (t) => [
    index("pushes_org_time_idx").on(t.orgId, t.receivedAt),
    index("pushes_org_ref_time_idx").on(t.orgId, t.ref, t.receivedAt),
  ],
);

/**
 * The Storehouse's index: one row per store path whose narinfo was verified and accepted. The narinfo and
 * NAR files live under DATA_DIR/store/; a NAR file no row names is an orphan, safe to collect.
 */
export const cachePaths = pgTable(
  "cache_paths",
  {
    /** The 32 nix32 characters of the store path: the narinfo's name. */
    hash: text("hash").primaryKey(),
    storePath: text("store_path").notNull(),
    /** `nar/<filehash>.nar[.ext]`, relative to the cache root, as the narinfo's URL says. */
    narFile: text("nar_file").notNull(),
    narHash: text("nar_hash").notNull(),
    narSize: bigint("nar_size", { mode: "number" }).notNull(),
    fileSize: bigint("file_size", { mode: "number" }).notNull(),
    compression: text("compression").notNull(),
    /** Basenames, sorted. */
    references: jsonb("references").$type<string[]>().notNull(),
    deriver: text("deriver"),
    ca: text("ca"),
    createdAt: timestamp("created_at").notNull().default(now),
    /** When the NAR file last hashed to its name (at accept, then by the background check); null: never. */
    verifiedAt: timestamp("verified_at"),
    /** When a client last asked for its narinfo (to the minute, written in batches; null: never since upload). */
    lastAccessedAt: timestamp("last_accessed_at"),
  },
  (t) => [index("cache_paths_nar_file_idx").on(t.narFile)],
);

// ---- CI: jobsets, evaluations and the builds they queue ----
// One evaluation per pushed branch commit; its jobs point at builds, which are shared by drv path across
// evaluations and jobsets. All of it lives here so that a killed server resumes exactly where it stopped.

/** A branch of an org's repo: evaluated on every push; publishes a channel later. */
export const jobsets = pgTable(
  "jobsets",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    orgId: integer("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    /** The branch name without `refs/heads/`. */
    branch: text("branch").notNull(),
    /** Pinned channels stay where they were put: new green evaluations do not move them (`flox channel unpin`). */
    channelPinned: boolean("channel_pinned").notNull().default(false),
    createdAt: timestamp("created_at").notNull().default(now),
  },
  (t) => [uniqueIndex("jobsets_org_branch_idx").on(t.orgId, t.branch)],
);

export const evaluations = pgTable(
  "evaluations",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    jobsetId: integer("jobset_id")
      .notNull()
      .references(() => jobsets.id, { onDelete: "cascade" }),
    /** One evaluation per push record at most: the unique index makes a replayed push a no-op. */
    pushId: integer("push_id")
      .notNull()
      .references(() => pushes.id, { onDelete: "cascade" }),
    commitSha: text("commit_sha").notNull(),
    state: text("state", { enum: evaluationStates }).notNull(),
    /** Why the evaluation failed (not per-package problems: those are eval_problems). */
    error: text("error"),
    /** Times it was claimed and not given back by a clean stop: a crash-looping one is failed, not redone forever. */
    attempts: integer("attempts").notNull().default(0),
    /** `[channel] gate` of the commit's flox.toml: the jobs that must succeed to publish it; null = all of them. */
    channelGate: jsonb("channel_gate").$type<string[]>(),
    jobCount: integer("job_count").notNull().default(0),
    problemCount: integer("problem_count").notNull().default(0),
    /** Builds this evaluation queued itself. */
    newBuilds: integer("new_builds").notNull().default(0),
    /** Jobs whose build another evaluation had queued (or was running) already. */
    sharedBuilds: integer("shared_builds").notNull().default(0),
    /** Jobs whose outputs were built already (in the Storehouse, or a succeeded build). */
    cachedBuilds: integer("cached_builds").notNull().default(0),
    /** Jobs whose build had failed before (a real failure is not retried by a new evaluation). */
    failedBuilds: integer("failed_builds").notNull().default(0),
    createdAt: timestamp("created_at").notNull().default(now),
    startedAt: timestamp("started_at"),
    finishedAt: timestamp("finished_at"),
  },
  (t) => [
    uniqueIndex("evaluations_push_idx").on(t.pushId),
    index("evaluations_jobset_idx").on(t.jobsetId, t.id),
    index("evaluations_state_idx").on(t.state),
  ],
);

/** One derivation to realise. Unique by drv path: every evaluation and jobset asking for it shares it. */
export const builds = pgTable(
  "builds",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    drvPath: text("drv_path").notNull(),
    system: text("system").notNull(),
    /** From the derivation's `requiredSystemFeatures`. */
    requiredFeatures: jsonb("required_features").$type<string[]>().notNull(),
    /** Output name → store path. */
    outputs: jsonb("outputs").$type<Record<string, string>>().notNull(),
    state: text("state", { enum: buildStates }).notNull(),
    /** Higher runs first. */
    priority: integer("priority").notNull().default(0),
    timeoutSeconds: integer("timeout_seconds").notNull().default(36000),
    maxSilentSeconds: integer("max_silent_seconds").notNull().default(7200),
    attempts: integer("attempts").notNull().default(0),
    createdAt: timestamp("created_at").notNull().default(now),
    startedAt: timestamp("started_at"),
    finishedAt: timestamp("finished_at"),
  },
  (t) => [uniqueIndex("builds_drv_path_idx").on(t.drvPath), index("builds_state_idx").on(t.state)],
);

/** `buildId` may start only once `dependsOn` succeeded (or was cached). */
export const buildDeps = pgTable(
  "build_deps",
  {
    buildId: integer("build_id")
      .notNull()
      .references(() => builds.id, { onDelete: "cascade" }),
    dependsOn: integer("depends_on")
      .notNull()
      .references(() => builds.id, { onDelete: "cascade" }),
  },
  (t) => [
    primaryKey({ columns: [t.buildId, t.dependsOn] }),
    index("build_deps_depends_on_idx").on(t.dependsOn),
  ],
);

export const evalJobs = pgTable(
  "eval_jobs",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    evaluationId: integer("evaluation_id")
      .notNull()
      .references(() => evaluations.id, { onDelete: "cascade" }),
    attr: text("attr").notNull(),
    name: text("name").notNull(),
    system: text("system").notNull(),
    drvPath: text("drv_path").notNull(),
    outputs: jsonb("outputs").$type<Record<string, string>>().notNull(),
    buildId: integer("build_id")
      .notNull()
      .references(() => builds.id),
    /**
     * Set when the job's org cancelled the build: this job no longer wants it and counts as cancelled, while
     * other orgs' jobs on the same shared build keep it going (server/builds/wants.ts).
     */
    withdrawnAt: timestamp("withdrawn_at"),
  },
  (t) => [
    uniqueIndex("eval_jobs_eval_attr_idx").on(t.evaluationId, t.attr),
    index("eval_jobs_build_idx").on(t.buildId),
  ],
);

export const evalProblems = pgTable(
  "eval_problems",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    evaluationId: integer("evaluation_id")
      .notNull()
      .references(() => evaluations.id, { onDelete: "cascade" }),
    /** The package the problem belongs to (`pkgs/<attr>/…`), null for one outside any package. */
    attr: text("attr"),
    path: text("path").notNull(),
    line: integer("line").notNull(),
    message: text("message").notNull(),
    hint: text("hint"),
  },
  (t) => [index("eval_problems_eval_idx").on(t.evaluationId)],
);
// ---- end of CI block ----

// ---- Build queue: who runs a build (leases) and the builders that ask for work ----

/** The lease of a running build: who runs it, which attempt, until when. Gone once the build leaves `running`. */
export const buildLeases = pgTable(
  "build_leases",
  {
    buildId: integer("build_id")
      .primaryKey()
      .references(() => builds.id, { onDelete: "cascade" }),
    /** Random secret the builder names the lease with; a requeued build gets a new one, so stale calls fail. */
    leaseId: text("lease_id").notNull(),
    builder: text("builder").notNull(),
    attempt: integer("attempt").notNull(),
    /** Milliseconds since the epoch: compared with `Date.now()` by the sweeper. */
    expiresAt: bigint("expires_at", { mode: "number" }).notNull(),
    claimedAt: timestamp("claimed_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("build_leases_lease_idx").on(t.leaseId),
    index("build_leases_expires_idx").on(t.expiresAt),
  ],
);

/** Builders that claimed work, as they described themselves at their last claim. */
export const builders = pgTable("builders", {
  name: text("name").primaryKey(),
  systems: jsonb("systems").$type<string[]>().notNull(),
  features: jsonb("features").$type<string[]>().notNull(),
  maxJobs: integer("max_jobs").notNull(),
  lastSeen: timestamp("last_seen").notNull().default(now),
});

/** Why a build ended as it did, beyond its state: the last infrastructure error, the builder's exit. */
export const buildResults = pgTable("build_results", {
  buildId: integer("build_id")
    .primaryKey()
    .references(() => builds.id, { onDelete: "cascade" }),
  builder: text("builder"),
  message: text("message"),
  updatedAt: timestamp("updated_at").notNull().default(now),
});

// ---- Channels: where each jobset's channel pointed, for the tarballs and rollbacks ----

/**
 * Where a jobset's channel pointed, newest last: the channel is its jobset's newest point. A point is added
 * when a green evaluation advances the channel, or when someone pins an earlier evaluation.
 */
export const channelPoints = pgTable(
  "channel_points",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    jobsetId: integer("jobset_id")
      .notNull()
      .references(() => jobsets.id, { onDelete: "cascade" }),
    evaluationId: integer("evaluation_id")
      .notNull()
      .references(() => evaluations.id, { onDelete: "cascade" }),
    commitSha: text("commit_sha").notNull(),
    /** `advanced` (by CI), `pinned` (by a person, to an earlier or later evaluation). */
    reason: text("reason", { enum: ["advanced", "pinned"] }).notNull(),
    /** The token's name (or user) that pinned it; null when CI advanced it. */
    actor: text("actor"),
    createdAt: timestamp("created_at").notNull().default(now),
  },
  (t) => [index("channel_points_jobset_idx").on(t.jobsetId, t.id)],
);

// ---- Profiles: named package sets and their numbered generations ----

/** A named set of packages of an org (`acme/dev`), rolled onto machines as numbered generations. */
export const profiles = pgTable(
  "profiles",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    orgId: integer("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    /** The live generation's number; null until the first install. */
    current: integer("current"),
    createdAt: timestamp("created_at").notNull().default(now),
  },
  (t) => [uniqueIndex("profiles_org_name_idx").on(t.orgId, t.name)],
);

export const profileGenerations = pgTable(
  "profile_generations",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    profileId: integer("profile_id")
      .notNull()
      .references(() => profiles.id, { onDelete: "cascade" }),
    number: integer("number").notNull(),
    /** The user environment (`/nix/store/…-user-environment`), in the Storehouse. */
    storePath: text("store_path").notNull(),
    entries: jsonb("entries").$type<ProfileEntry[]>().notNull(),
    createdAt: timestamp("created_at").notNull().default(now),
  },
  (t) => [uniqueIndex("profile_generations_number_idx").on(t.profileId, t.number)],
);

/** Every change to a profile, with who made it, from where, with which command, and why. */
export const profileEvents = pgTable(
  "profile_events",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    profileId: integer("profile_id")
      .notNull()
      .references(() => profiles.id, { onDelete: "cascade" }),
    /** create, install, remove, upgrade, rollback. */
    action: text("action").notNull(),
    /** The live generation before and after (null before the first). */
    fromGeneration: integer("from_generation"),
    toGeneration: integer("to_generation"),
    author: text("author").notNull(),
    host: text("host"),
    command: text("command"),
    reason: text("reason"),
    createdAt: timestamp("created_at").notNull().default(now),
  },
  (t) => [index("profile_events_profile_idx").on(t.profileId, t.id)],
);

// ---- Auto-upgrade schedules: when a profile's followed entries are re-resolved ----

/**
 * When a profile's followed entries are re-resolved. No row means the default, `on-publish`: as soon as a channel
 * an entry follows advances. `cron` runs at the expression's times (croner, server time zone); a run missed while
 * the server was down is made up at start (like NixOS autoUpgrade's `persistent`). `off`: only by hand.
 */
export const profileSchedules = pgTable("profile_schedules", {
  profileId: integer("profile_id")
    .primaryKey()
    .references(() => profiles.id, { onDelete: "cascade" }),
  kind: text("kind", { enum: ["on-publish", "cron", "off"] }).notNull(),
  cron: text("cron"),
  /** Machines apply a new generation after a random delay up to this (each its own), so a fleet does not move at once. */
  jitterSeconds: integer("jitter_seconds").notNull().default(0),
  /** When the schedule last ran (cron: the slot it ran for); catch-up compares the slots since with now. */
  lastRunAt: timestamp("last_run_at"),
  updatedAt: timestamp("updated_at").notNull().default(now),
});

// ---- Machines: the endpoints that follow profiles and channels, the feed they follow, what they report ----

/**
 * An endpoint that follows profiles and channels (`flox machine register NAME` with a machine token). It belongs to
 * the org its token was made for and may follow only that org's profiles and channels.
 */
export const machines = pgTable(
  "machines",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    orgId: integer("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    /** The machine token it registered with: one machine per token. */
    tokenId: integer("token_id")
      .notNull()
      .references(() => tokens.id, { onDelete: "cascade" }),
    createdAt: timestamp("created_at").notNull().default(now),
    /** Its last connect, disconnect or report (the event stream itself is not written per heartbeat). */
    lastSeenAt: timestamp("last_seen_at"),
  },
  (t) => [
    uniqueIndex("machines_org_name_idx").on(t.orgId, t.name),
    uniqueIndex("machines_token_idx").on(t.tokenId),
  ],
);

/** What a machine follows: one profile or one channel (jobset) per row. */
export const subscriptions = pgTable(
  "subscriptions",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    machineId: integer("machine_id")
      .notNull()
      .references(() => machines.id, { onDelete: "cascade" }),
    profileId: integer("profile_id").references(() => profiles.id, { onDelete: "cascade" }),
    jobsetId: integer("jobset_id").references(() => jobsets.id, { onDelete: "cascade" }),
    createdAt: timestamp("created_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("subscriptions_machine_profile_idx").on(t.machineId, t.profileId),
    uniqueIndex("subscriptions_machine_jobset_idx").on(t.machineId, t.jobsetId),
    index("subscriptions_profile_idx").on(t.profileId),
    index("subscriptions_jobset_idx").on(t.jobsetId),
  ],
);

/**
 * The append-only feed machines follow; its id is the SSE event id (`Last-Event-ID`). `profile`: a profile's live
 * generation changed (a new generation, or a rollback); `channel`: a channel moved (CI advanced it, or a pin).
 * Written in the same transaction as the change itself, so no change is ever missing from it.
 */
export const changeEvents = pgTable(
  "change_events",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    kind: text("kind", { enum: ["profile", "channel"] }).notNull(),
    profileId: integer("profile_id").references(() => profiles.id, { onDelete: "cascade" }),
    jobsetId: integer("jobset_id").references(() => jobsets.id, { onDelete: "cascade" }),
    /** profile: install, remove, upgrade, rollback; channel: advanced, pinned. */
    action: text("action").notNull(),
    /** profile: the generation now live, the one before, and its user environment. */
    generation: integer("generation"),
    fromGeneration: integer("from_generation"),
    storePath: text("store_path"),
    /** profile: machines apply it after a random delay up to this (the schedule's jitter; upgrades only). */
    jitterSeconds: integer("jitter_seconds").notNull().default(0),
    /** channel: the point, its evaluation and commit. */
    pointId: integer("point_id"),
    evaluationId: integer("evaluation_id"),
    commitSha: text("commit_sha"),
    createdAt: timestamp("created_at").notNull().default(now),
  },
  (t) => [
    index("change_events_profile_idx").on(t.profileId, t.id),
    index("change_events_jobset_idx").on(t.jobsetId, t.id),
  ],
);

/** What each machine last reported for a profile: the generation it runs, and whether the last switch failed. */
export const machineProfiles = pgTable(
  "machine_profiles",
  {
    machineId: integer("machine_id")
      .notNull()
      .references(() => machines.id, { onDelete: "cascade" }),
    profileId: integer("profile_id")
      .notNull()
      .references(() => profiles.id, { onDelete: "cascade" }),
    /** The generation it runs: the last one it reported `ok`; null before the first. */
    running: integer("running"),
    /** The last report: which generation, ok or failed, and the machine's message. */
    generation: integer("generation").notNull(),
    status: text("status", { enum: ["ok", "failed"] }).notNull(),
    message: text("message"),
    reportedAt: timestamp("reported_at").notNull().default(now),
  },
  (t) => [
    primaryKey({ columns: [t.machineId, t.profileId] }),
    index("machine_profiles_profile_idx").on(t.profileId),
  ],
);

// ---- Web sessions: browser logins made with a token ----

/**
 * A browser's login: made by `POST /login` with a token, named by a random cookie whose sha256 is the id (the
 * cookie itself is never stored). It acts as its token: revoking the token ends the session at the next request.
 */
export const webSessions = pgTable(
  "web_sessions",
  {
    /** sha256 hex of the cookie's secret. */
    id: text("id").primaryKey(),
    tokenId: integer("token_id")
      .notNull()
      .references(() => tokens.id, { onDelete: "cascade" }),
    /** The per-session CSRF token every action form carries (`_csrf`). */
    csrf: text("csrf").notNull(),
    createdAt: timestamp("created_at").notNull().default(now),
    /** ISO time after which the cookie no longer counts. */
    expiresAt: timestamp("expires_at").notNull(),
  },
  (t) => [index("web_sessions_token_idx").on(t.tokenId)],
);

// ---- Storehouse lifecycle: retention per org, pins, GC runs and the deletion journal ----

/** An org's retention and quota (`flox org set acme --keep-evaluations N --quota 50G`); no row or null: the default. */
export const orgRetention = pgTable("org_retention", {
  orgId: integer("org_id")
    .primaryKey()
    .references(() => orgs.id, { onDelete: "cascade" }),
  /** The newest N evaluations of each jobset keep their outputs (default 3). */
  keepEvaluations: integer("keep_evaluations"),
  /** Channel points of the last D days keep their outputs, the current one always (default 30). */
  keepChannelDays: integer("keep_channel_days"),
  /** Bytes of NAR files the org's roots may hold after collection; null: no quota. */
  quotaBytes: bigint("quota_bytes", { mode: "number" }),
  updatedAt: timestamp("updated_at").notNull().default(now),
});

/** A store path kept by hand with its closure (`flox pin add PATH [--name N] [--until DATE]`). */
export const gcPins = pgTable(
  "gc_pins",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    storePath: text("store_path").notNull(),
    /** Unique when given: `flox pin remove NAME`. */
    name: text("name"),
    /** The org it counts for (its usage and quota); null: the server's. */
    orgId: integer("org_id").references(() => orgs.id, { onDelete: "cascade" }),
    /** Time after which the pin no longer keeps anything; null: until removed. */
    until: timestamp("until"),
    createdBy: text("created_by"),
    createdAt: timestamp("created_at").notNull().default(now),
  },
  (t) => [uniqueIndex("gc_pins_name_idx").on(t.name), index("gc_pins_path_idx").on(t.storePath)],
);

/** One collection (`flox gc`, the schedule): when, what it freed, how long it took. */
export const gcRuns = pgTable("gc_runs", {
  id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
  /** running, finished, failed; a run left `running` by a crash is finished by the next start. */
  state: text("state", { enum: ["running", "finished", "failed"] }).notNull(),
  trigger: text("trigger").notNull(),
  /** `--org`: only paths attributed to this org were candidates. */
  orgId: integer("org_id").references(() => orgs.id, { onDelete: "set null" }),
  paths: integer("paths").notNull().default(0),
  bytes: bigint("bytes", { mode: "number" }).notNull().default(0),
  /** What else went: logs, tarballs, change events, sessions (counts). */
  other: jsonb("other").$type<Record<string, number>>().notNull().default({}),
  error: text("error"),
  startedAt: timestamp("started_at").notNull().default(now),
  finishedAt: timestamp("finished_at"),
});

/**
 * Paths whose row a collection deleted and whose files it has not finished deleting: written before the row goes,
 * removed once the narinfo, listing and NAR are gone. A restart replays it, so a kill -9 leaves no dangling file.
 */
export const gcJournal = pgTable("gc_journal", {
  hash: text("hash").primaryKey(),
  narFile: text("nar_file").notNull(),
  runId: integer("run_id").notNull(),
  createdAt: timestamp("created_at").notNull().default(now),
});

/** Which org an accepted upload was made for (a build it wanted, an org token): `flox gc --org`. */
export const cachePathOrgs = pgTable(
  "cache_path_orgs",
  {
    hash: text("hash").notNull(),
    orgId: integer("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
  },
  (t) => [primaryKey({ columns: [t.hash, t.orgId] }), index("cache_path_orgs_org_idx").on(t.orgId)],
);

// ---- The shared Nix daemon: relayed connections and the builds they asked the farm for ----

/**
 * One relayed daemon connection (`GET /nix-daemon`): the org's activity log of who used the shared daemon, from
 * which host, when, and how it ended. Its builds are its `relay_wants`.
 */
export const relaySessions = pgTable(
  "relay_sessions",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    orgId: integer("org_id")
      .notNull()
      .references(() => orgs.id, { onDelete: "cascade" }),
    tokenId: integer("token_id").references(() => tokens.id, { onDelete: "set null" }),
    /** The user, else the token's name (actorOf). */
    actor: text("actor").notNull(),
    /** The host the client named (`X-Flox-Host`), else null. */
    host: text("host"),
    /** The TCP peer the server saw. */
    remoteAddress: text("remote_address"),
    startedAt: timestamp("started_at").notNull().default(now),
    endedAt: timestamp("ended_at"),
    /** `client` (the client hung up), `daemon` (the daemon side ended), `server` (shutdown). */
    endReason: text("end_reason"),
    /** The server run that holds the connection (server-locks.ts LOCK.run); its sessions end when that run is gone. */
    serverRun: integer("server_run"),
  },
  (t) => [index("relay_sessions_org_idx").on(t.orgId, t.id)],
);

/**
 * A relayed connection's want of a build (the daemon's build hook asked for it). Like a job's want
 * (`eval_jobs.withdrawn_at`), it is withdrawn when the client hangs up, and the build is cancelled once nothing
 * wants it any more (server/builds/wants.ts).
 */
export const relayWants = pgTable(
  "relay_wants",
  {
    id: integer("id").primaryKey().generatedByDefaultAsIdentity(),
    sessionId: integer("session_id")
      .notNull()
      .references(() => relaySessions.id, { onDelete: "cascade" }),
    buildId: integer("build_id")
      .notNull()
      .references(() => builds.id, { onDelete: "cascade" }),
    createdAt: timestamp("created_at").notNull().default(now),
    withdrawnAt: timestamp("withdrawn_at"),
  },
  (t) => [
    uniqueIndex("relay_wants_session_build_idx").on(t.sessionId, t.buildId),
    index("relay_wants_build_idx").on(t.buildId),
  ],
);

// ---- Fleet secrets: what every server sharing the database must agree on ----

/**
 * The fleet's signing key (name `signing-key`): its public half always, so no second server signs with a key of its
 * own; its secret half too when the servers have a server secret (FLOX_SERVER_SECRET), sealed with it
 * (server/storehouse/fleet-key.ts). Used on PostgreSQL; a lone SQLite server keeps its key in DATA_DIR/keys.
 */
export const serverSecrets = pgTable("server_secrets", {
  name: text("name").primaryKey(),
  publicValue: text("public_value").notNull(),
  /** base64 of AES-256-GCM iv | tag | ciphertext; null: kept only in files (--signing-key, DATA_DIR/keys). */
  sealed: text("sealed"),
  createdAt: timestamp("created_at").notNull().default(now),
});
