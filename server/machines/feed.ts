// The feed machines follow: `change_events`, append-only, its id the SSE event id. ProfileEditor and the channel
// code append to it inside the transaction that makes the change, so a change and its event commit together:
// a machine that resumes from an id misses nothing, and never hears of a change that was rolled back.
import { and, asc, eq, gt, inArray, isNotNull, max, or, sql } from "drizzle-orm";
import type { ChannelChange, ProfileChange, Unsubscribed } from "../../lib/api/machines.js";
import type { Db, Tx } from "../db/open.js";
import { first } from "../db/raw.js";
import { changeEvents, jobsets, orgs, profileSchedules, profiles, subscriptions } from "../db/tables.js";

export type ChangeEventRow = typeof changeEvents.$inferSelect;

/** A profile's live generation changed: a new generation (install, remove, upgrade) or a rollback. */
export async function appendProfileChange(
  tx: Db | Tx,
  change: {
    profileId: number;
    action: string;
    generation: number;
    from: number | null;
    storePath: string;
  },
): Promise<void> {
  // Scheduled upgrades carry the schedule's jitter: each machine waits its own random part of it.
  const jitter =
    change.action === "upgrade"
      ? ((
          await tx
            .select({ s: profileSchedules.jitterSeconds })
            .from(profileSchedules)
            .where(eq(profileSchedules.profileId, change.profileId))
            .then(first)
        )?.s ?? 0)
      : 0;
  await tx.insert(changeEvents).values({
    kind: "profile",
    profileId: change.profileId,
    action: change.action,
    generation: change.generation,
    fromGeneration: change.from,
    storePath: change.storePath,
    jitterSeconds: jitter,
  });
}

/** A channel moved: CI advanced it, or someone pinned it. */
export async function appendChannelChange(
  tx: Db | Tx,
  change: {
    jobsetId: number;
    action: "advanced" | "pinned";
    pointId: number;
    evaluationId: number;
    commitSha: string;
  },
): Promise<void> {
  await tx.insert(changeEvents).values({
    kind: "channel",
    jobsetId: change.jobsetId,
    action: change.action,
    pointId: change.pointId,
    evaluationId: change.evaluationId,
    commitSha: change.commitSha,
  });
}

export async function lastEventId(db: Db): Promise<number> {
  const [row] = await db.select({ id: max(changeEvents.id) }).from(changeEvents);
  return row?.id ?? 0;
}

/** `acme` for main, `acme/B` otherwise (as channels.ts names them; repeated here to keep this module a leaf). */
function channelLabel(org: string, branch: string): string {
  return branch === "main" ? org : `${org}/${branch}`;
}

/** An event as streams send it, with the subscription it belongs to (`profile:ID` or `channel:ID`). */
export interface FeedEvent {
  key: string;
  event: ProfileChange | ChannelChange | Unsubscribed;
  /** `event` as JSON, made once for all the streams that send it. */
  data?: string;
}

/**
 * Events after `since`, oldest first: every one (what the hub hands all streams), or only those of what machine
 * `machineId` follows (a stream catching up).
 */
export async function readEvents(
  db: Db,
  since: number,
  limit: number,
  machineId?: number,
): Promise<FeedEvent[]> {
  const conds = [gt(changeEvents.id, since)];
  if (machineId !== undefined) {
    const subProfiles = db
      .select({ id: subscriptions.profileId })
      .from(subscriptions)
      .where(and(eq(subscriptions.machineId, machineId), isNotNull(subscriptions.profileId)));
    const subJobsets = db
      .select({ id: subscriptions.jobsetId })
      .from(subscriptions)
      .where(and(eq(subscriptions.machineId, machineId), isNotNull(subscriptions.jobsetId)));
    const mine = or(inArray(changeEvents.profileId, subProfiles), inArray(changeEvents.jobsetId, subJobsets));
    if (mine) conds.push(mine);
  }
  const rows = await db
    .select({
      e: changeEvents,
      profile: profiles.name,
      profileOrg: sql<string | null>`po.name`,
      branch: jobsets.branch,
      jobsetOrg: sql<string | null>`jo.name`,
    })
    .from(changeEvents)
    .leftJoin(profiles, eq(profiles.id, changeEvents.profileId))
    .leftJoin(sql`${orgs} po`, sql`po.id = ${profiles.orgId}`)
    .leftJoin(jobsets, eq(jobsets.id, changeEvents.jobsetId))
    .leftJoin(sql`${orgs} jo`, sql`jo.id = ${jobsets.orgId}`)
    .where(and(...conds))
    .orderBy(asc(changeEvents.id))
    .limit(limit);
  return rows.map(({ e, profile, profileOrg, branch, jobsetOrg }) =>
    e.kind === "profile"
      ? {
          key: `profile:${e.profileId}`,
          event: {
            kind: "profile",
            id: e.id,
            snapshot: false,
            profile: `${profileOrg}/${profile}`,
            generation: e.generation,
            storePath: e.storePath,
            action: e.action,
            from: e.fromGeneration,
            jitterSeconds: e.jitterSeconds,
            createdAt: e.createdAt,
          },
        }
      : {
          key: `channel:${e.jobsetId}`,
          event: {
            kind: "channel",
            id: e.id,
            snapshot: false,
            channel: channelLabel(jobsetOrg ?? "?", branch ?? "?"),
            evaluation: e.evaluationId,
            commitSha: e.commitSha,
            point: e.pointId,
            action: e.action,
            createdAt: e.createdAt,
          },
        },
  );
}
