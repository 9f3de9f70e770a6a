// The HTTP API v1: the push records the server keeps of every ref update (docs/API.md, "Pushes").
import { z } from "zod";
import { Name, Sha, Timestamp } from "./common.js";
import { pushSources } from "./enums.js";

export const PushSource = z.enum(pushSources);
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

export const PushResponse = z.object({ push: Push });
export type PushResponse = z.infer<typeof PushResponse>;

/** Newest first. */
export const PushesResponse = z.object({ pushes: z.array(Push) });
export type PushesResponse = z.infer<typeof PushesResponse>;
