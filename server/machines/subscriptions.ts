// What a machine follows: its own org's profiles and channels, and the snapshot each one starts with.
import { and, asc, eq, inArray } from "drizzle-orm";
import type { ChannelChange, ProfileChange, Subscription, SubscriptionBody } from "../../lib/api/machines.js";
import { channelName, currentPoint, splitChannelName } from "../channels/channels.js";
import type { Db } from "../db/open.js";
import { first } from "../db/raw.js";
import { jobsets, orgs, profileGenerations, profiles, subscriptions } from "../db/tables.js";
import { ForbiddenError, NotFoundError } from "../errors.js";
import { findJobset } from "../evaluations/data.js";
import { findOrg } from "../orgs/orgs.js";
import { findProfile, type ProfileRow } from "../profiles/profiles.js";
import { type MachineRow, stamp } from "./machines.js";

async function orgNameOf(db: Db, orgId: number): Promise<string> {
  return (await db.select({ name: orgs.name }).from(orgs).where(eq(orgs.id, orgId)).then(first))?.name ?? "?";
}

/** The machine's own org only: a subscription elsewhere is refused, whether or not that org exists. */
async function ownOrg(db: Db, machine: MachineRow, orgName: string, what: string) {
  const org = await findOrg(db, orgName);
  if (!org || org.id !== machine.orgId) {
    throw new ForbiddenError(
      `machine "${machine.name}" belongs to org ${await orgNameOf(db, machine.orgId)} and may follow only its profiles and channels, not ${what}; a machine token of org ${orgName} is needed for that`,
    );
  }
  return org;
}

export async function resolveProfile(db: Db, machine: MachineRow, spec: string): Promise<ProfileRow> {
  const [orgName = "", name = ""] = spec.split("/");
  const org = await ownOrg(db, machine, orgName, `profile ${spec}`);
  const p = await findProfile(db, org, name);
  if (!p) throw new NotFoundError(`there is no profile ${spec}; \`flox profile list\` lists them`);
  return p;
}

async function resolveChannel(db: Db, machine: MachineRow, spec: string) {
  const { org: orgName, branch } = splitChannelName(spec);
  const org = await ownOrg(db, machine, orgName, `channel ${spec}`);
  const jobset = await findJobset(db, org, branch);
  if (!jobset) throw new NotFoundError(`there is no channel ${spec}; \`flox channels\` lists them`);
  return jobset;
}

/** Adds the subscription; `created` is false when the machine followed it already. */
export async function subscribe(
  db: Db,
  machine: MachineRow,
  body: SubscriptionBody,
): Promise<{ created: boolean }> {
  const values = body.profile
    ? { machineId: machine.id, profileId: (await resolveProfile(db, machine, body.profile)).id }
    : { machineId: machine.id, jobsetId: (await resolveChannel(db, machine, body.channel ?? "")).id };
  const r = await db
    .insert(subscriptions)
    .values(values)
    .onConflictDoNothing()
    .returning({ id: subscriptions.id });
  return { created: r.length > 0 };
}

export async function unsubscribe(db: Db, machine: MachineRow, body: SubscriptionBody): Promise<void> {
  const where = body.profile
    ? eq(subscriptions.profileId, (await resolveProfile(db, machine, body.profile)).id)
    : eq(subscriptions.jobsetId, (await resolveChannel(db, machine, body.channel ?? "")).id);
  const r = await db
    .delete(subscriptions)
    .where(and(eq(subscriptions.machineId, machine.id), where))
    .returning({ id: subscriptions.id });
  if (r.length === 0) {
    throw new NotFoundError(
      `machine "${machine.name}" does not follow ${body.profile ? `profile ${body.profile}` : `channel ${body.channel}`}`,
    );
  }
}

export interface SubscriptionRow extends Subscription {
  /** `profile:ID` or `channel:ID`: what the stream keys its snapshots by. */
  key: string;
  profileId: number | null;
  jobsetId: number | null;
}

export async function listSubscriptions(
  db: Db,
  machineIds: number[],
): Promise<Map<number, SubscriptionRow[]>> {
  const out = new Map<number, SubscriptionRow[]>();
  if (machineIds.length === 0) return out;
  const rows = await db
    .select({
      machineId: subscriptions.machineId,
      profileId: subscriptions.profileId,
      jobsetId: subscriptions.jobsetId,
      createdAt: subscriptions.createdAt,
      profile: profiles.name,
      profileOrg: orgs.name,
      branch: jobsets.branch,
      jobsetOrgId: jobsets.orgId,
    })
    .from(subscriptions)
    .leftJoin(profiles, eq(profiles.id, subscriptions.profileId))
    .leftJoin(orgs, eq(orgs.id, profiles.orgId))
    .leftJoin(jobsets, eq(jobsets.id, subscriptions.jobsetId))
    .where(inArray(subscriptions.machineId, machineIds))
    .orderBy(asc(subscriptions.id));
  for (const r of rows) {
    const list = out.get(r.machineId) ?? [];
    out.set(r.machineId, list);
    if (r.profileId !== null) {
      list.push({
        kind: "profile",
        name: `${r.profileOrg}/${r.profile}`,
        createdAt: r.createdAt,
        key: `profile:${r.profileId}`,
        profileId: r.profileId,
        jobsetId: null,
      });
    } else if (r.jobsetId !== null) {
      list.push({
        kind: "channel",
        name: channelName(await orgNameOf(db, r.jobsetOrgId ?? -1), r.branch ?? "?"),
        createdAt: r.createdAt,
        key: `channel:${r.jobsetId}`,
        profileId: null,
        jobsetId: r.jobsetId,
      });
    }
  }
  return out;
}

/** The subscription's state now, as a snapshot event (no id). */
export async function snapshotOf(db: Db, sub: SubscriptionRow): Promise<ProfileChange | ChannelChange> {
  if (sub.profileId !== null) {
    const p = await db.select().from(profiles).where(eq(profiles.id, sub.profileId)).then(first);
    const g =
      p && p.current !== null
        ? await db
            .select()
            .from(profileGenerations)
            .where(and(eq(profileGenerations.profileId, p.id), eq(profileGenerations.number, p.current)))
            .then(first)
        : undefined;
    return {
      kind: "profile",
      id: null,
      snapshot: true,
      profile: sub.name,
      generation: g?.number ?? null,
      storePath: g?.storePath ?? null,
      action: "current",
      from: null,
      jitterSeconds: 0,
      createdAt: stamp(),
    };
  }
  const point = await currentPoint(db, sub.jobsetId ?? -1);
  return {
    kind: "channel",
    id: null,
    snapshot: true,
    channel: sub.name,
    evaluation: point?.evaluationId ?? null,
    commitSha: point?.commitSha ?? null,
    point: point?.id ?? null,
    action: "current",
    createdAt: stamp(),
  };
}
