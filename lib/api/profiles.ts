// The HTTP API v1: profiles, generations, auto-upgrade schedules and rollouts (docs/API.md, "Profiles").
import { z } from "zod";
import { Name, Timestamp } from "./common.js";

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
