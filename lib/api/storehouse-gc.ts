// The HTTP API v1: the Storehouse's lifecycle — collections, usage, pins and each org's retention and quota.
import { z } from "zod";
import { Name, Timestamp } from "./common.js";

export const rootKinds = ["evaluation", "channel", "profile", "pin", "build"] as const;
export const RootCounts = z.object(
  Object.fromEntries(rootKinds.map((k) => [k, z.number().int()])) as {
    [K in (typeof rootKinds)[number]]: z.ZodNumber;
  },
);

/** A store path as flox accepts it in a pin: `/nix/store/<32 nix32>-<name>`. */
export const PinnedStorePath = z
  .string()
  .regex(
    /^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]{1,207}$/,
    "give a store path: /nix/store/<32 characters of hash>-<name>",
  );

/** `POST /storehouse/gc`: admin for the whole Storehouse; an org's owner with `org`. */
export const GcBody = z
  .object({
    dryRun: z.boolean().optional(),
    /** Only paths uploaded for this org (its builds' outputs). */
    org: Name.optional(),
  })
  .strict();
export type GcBody = z.infer<typeof GcBody>;

export const GcReport = z.object({
  runId: z.number().int().nullable(),
  dryRun: z.boolean(),
  roots: RootCounts,
  reachable: z.number().int(),
  unreachable: z.number().int(),
  totalBytes: z.number().int(),
  paths: z.number().int(),
  bytes: z.number().int(),
  spared: z.number().int(),
  sample: z.array(z.object({ storePath: z.string(), bytes: z.number().int(), lastUsed: Timestamp })),
  logs: z.object({ count: z.number().int(), bytes: z.number().int() }),
  tarballs: z.object({ count: z.number().int(), bytes: z.number().int() }),
  changeEvents: z.number().int(),
  sessions: z.number().int(),
  /** The server's own chroot store, collected by `nix-store --gc` with roots for what it still needs. */
  nixRoot: z
    .object({ skipped: z.string().nullable(), paths: z.number().int(), bytes: z.number().int() })
    .nullable(),
  resumed: z.number().int(),
  durationMs: z.number().int(),
});
export type GcReport = z.infer<typeof GcReport>;

export const GcResponse = z.object({ gc: GcReport });
export type GcResponse = z.infer<typeof GcResponse>;

export const GcRun = z.object({
  id: z.number().int(),
  state: z.enum(["running", "finished", "failed"]),
  trigger: z.string(),
  paths: z.number().int(),
  bytes: z.number().int(),
  other: z.record(z.string(), z.number()),
  error: z.string().nullable(),
  startedAt: Timestamp,
  finishedAt: Timestamp.nullable(),
});
export type GcRun = z.infer<typeof GcRun>;

export const OrgUsage = z.object({
  org: Name,
  /** NAR bytes of the closure of its roots: what it keeps after collection (shared paths count for each org). */
  bytes: z.number().int(),
  paths: z.number().int(),
  quotaBytes: z.number().int().nullable(),
  keepEvaluations: z.number().int(),
  keepChannelDays: z.number().int(),
});
export type OrgUsage = z.infer<typeof OrgUsage>;

/** `GET /storehouse/usage[?org=]`. */
export const StorehouseUsage = z.object({
  totalBytes: z.number().int(),
  totalPaths: z.number().int(),
  roots: RootCounts,
  orgs: z.array(OrgUsage),
  nextGc: z.object({ paths: z.number().int(), bytes: z.number().int() }),
  lastRun: GcRun.nullable(),
  /** `--gc-schedule` ("off": none) and its next time. */
  schedule: z.string(),
  nextRunAt: Timestamp.nullable(),
  targetBytes: z.number().int().nullable(),
});
export type StorehouseUsage = z.infer<typeof StorehouseUsage>;

export const StorehouseUsageResponse = z.object({ usage: StorehouseUsage });
export type StorehouseUsageResponse = z.infer<typeof StorehouseUsageResponse>;

export const Pin = z.object({
  id: z.number().int(),
  storePath: z.string(),
  name: z.string().nullable(),
  org: Name.nullable(),
  until: Timestamp.nullable(),
  createdBy: z.string().nullable(),
  createdAt: Timestamp,
  /** Whether the Storehouse holds the path (a pin of a path not uploaded yet keeps it once it is). */
  present: z.boolean(),
});
export type Pin = z.infer<typeof Pin>;

export const PinBody = z
  .object({
    storePath: PinnedStorePath,
    name: z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
        "a pin name is letters, digits, '.', '_' and '-' (up to 64)",
      )
      .optional(),
    /** ISO 8601 date or time; the pin lapses then. */
    until: z
      .string()
      .refine((s) => !Number.isNaN(Date.parse(s)), "until must be a date (2027-01-31) or an ISO 8601 time")
      .optional(),
    org: Name.optional(),
  })
  .strict();
export type PinBody = z.infer<typeof PinBody>;

export const PinResponse = z.object({ pin: Pin });
export type PinResponse = z.infer<typeof PinResponse>;
export const PinsResponse = z.object({ pins: z.array(Pin) });
export type PinsResponse = z.infer<typeof PinsResponse>;
export const PinsRemovedResponse = z.object({ removed: z.array(Pin) });
export type PinsRemovedResponse = z.infer<typeof PinsRemovedResponse>;

/** `PUT /orgs/:org/retention`: keep-* by the org's owner, the quota by an admin; null quota removes it. */
export const RetentionBody = z
  .object({
    keepEvaluations: z.number().int().min(1).max(100_000).optional(),
    keepChannelDays: z.number().int().min(0).max(36_500).optional(),
    quotaBytes: z.number().int().positive().nullable().optional(),
  })
  .strict();
export type RetentionBody = z.infer<typeof RetentionBody>;

export const Retention = z.object({
  org: Name,
  keepEvaluations: z.number().int(),
  keepChannelDays: z.number().int(),
  quotaBytes: z.number().int().nullable(),
});
export type Retention = z.infer<typeof Retention>;

export const RetentionResponse = z.object({ retention: Retention });
export type RetentionResponse = z.infer<typeof RetentionResponse>;
