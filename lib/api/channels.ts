// The HTTP API v1: channels and their history (docs/API.md, "Channels").
import { z } from "zod";
import { Name, Sha, Timestamp } from "./common.js";

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
