// The HTTP API v1: machines, their subscriptions, reports and event stream (docs/API.md, "Machines").
import { z } from "zod";
import { Name, Timestamp } from "./common.js";

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
