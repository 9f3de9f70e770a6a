// Machines: endpoints that follow profiles and channels. A machine is bound to its machine token, and through it to
// one org: it may follow that org's profiles and channels and nothing else (docs/ARCHITECTURE.md, "Machines").
import { and, asc, eq, inArray, isNotNull } from "drizzle-orm";
import type {
  ChannelChange,
  Machine,
  MachineProfileState,
  ProfileChange,
  ReportBody,
  Subscription,
  SubscriptionBody,
} from "../../lib/api/machines.js";
import type { ProfileStatus } from "../../lib/api/profiles.js";
import { channelName, currentPoint, splitChannelName } from "../channels/channels.js";
import type { Db } from "../db/open.js";
import {
  jobsets,
  machineProfiles,
  machines,
  orgs,
  profileGenerations,
  profiles,
  subscriptions,
} from "../db/schema.js";
import { ConflictError, ForbiddenError, NotFoundError } from "../errors.js";
import { findJobset } from "../evaluations/data.js";
import { findOrg } from "../orgs/orgs.js";
import type { TokenRecord } from "../orgs/tokens.js";
import { findProfile, type ProfileRow } from "../profiles/profiles.js";

export type MachineRow = typeof machines.$inferSelect;

const stamp = () => new Date().toISOString();

/** Creates the machine of this token (`flox machine register NAME`); registering again under its name is a no-op. */
/** Only a machine token of an org may register; checked before the route reads the body. */
export function requireMachineToken(token: TokenRecord): asserts token is TokenRecord & { orgId: number } {
  if (token.scope !== "machine") {
    throw new ForbiddenError(
      `only a machine token registers a machine; this is a "${token.scope}" token (make one with: flox token create --machine --org ORG)`,
    );
  }
  if (token.orgId === null) {
    throw new ForbiddenError(
      "this machine token belongs to no org, so there is nothing it may follow; make one with: flox token create --machine --org ORG",
    );
  }
}

export function registerMachine(
  db: Db,
  token: TokenRecord,
  name: string,
): { machine: MachineRow; created: boolean } {
  requireMachineToken(token);
  const orgId = token.orgId;
  return db.transaction(
    (tx) => {
      const mine = tx.select().from(machines).where(eq(machines.tokenId, token.id)).get();
      if (mine) {
        if (mine.name === name) return { machine: mine, created: false };
        throw new ConflictError(
          `this token is registered as machine "${mine.name}" already; one token per machine (make another with flox token create --machine --org ${token.org})`,
        );
      }
      const taken = tx
        .select()
        .from(machines)
        .where(and(eq(machines.orgId, orgId), eq(machines.name, name)))
        .get();
      if (taken) {
        throw new ConflictError(
          `org ${token.org} has a machine named "${name}" already, registered with another token; pick another name`,
        );
      }
      const machine = tx
        .insert(machines)
        .values({ orgId, name, tokenId: token.id, lastSeenAt: stamp() })
        .returning()
        .get();
      return { machine, created: true };
    },
    { behavior: "immediate" },
  );
}

export function findMachineOfToken(db: Db, tokenId: number): MachineRow | undefined {
  return db.select().from(machines).where(eq(machines.tokenId, tokenId)).get();
}

/** The machine the token belongs to; anything else is refused with what to do. */
export function machineOf(db: Db, token: TokenRecord): MachineRow {
  if (token.scope !== "machine") {
    throw new ForbiddenError(
      `this is for machines: use a machine token (flox token create --machine --org ORG); this is a "${token.scope}" token`,
    );
  }
  const m = db.select().from(machines).where(eq(machines.tokenId, token.id)).get();
  if (!m) {
    throw new NotFoundError("this machine token is not registered yet; run: flox machine register NAME");
  }
  return m;
}

export function touchMachine(db: Db, machineId: number): void {
  db.update(machines).set({ lastSeenAt: stamp() }).where(eq(machines.id, machineId)).run();
}

function orgNameOf(db: Db, orgId: number): string {
  return db.select({ name: orgs.name }).from(orgs).where(eq(orgs.id, orgId)).get()?.name ?? "?";
}

/** The machine's own org only: a subscription elsewhere is refused, whether or not that org exists. */
function ownOrg(db: Db, machine: MachineRow, orgName: string, what: string) {
  const org = findOrg(db, orgName);
  if (!org || org.id !== machine.orgId) {
    throw new ForbiddenError(
      `machine "${machine.name}" belongs to org ${orgNameOf(db, machine.orgId)} and may follow only its profiles and channels, not ${what}; a machine token of org ${orgName} is needed for that`,
    );
  }
  return org;
}

export function resolveProfile(db: Db, machine: MachineRow, spec: string): ProfileRow {
  const [orgName = "", name = ""] = spec.split("/");
  const org = ownOrg(db, machine, orgName, `profile ${spec}`);
  const p = findProfile(db, org, name);
  if (!p) throw new NotFoundError(`there is no profile ${spec}; \`flox profile list\` lists them`);
  return p;
}

function resolveChannel(db: Db, machine: MachineRow, spec: string) {
  const { org: orgName, branch } = splitChannelName(spec);
  const org = ownOrg(db, machine, orgName, `channel ${spec}`);
  const jobset = findJobset(db, org, branch);
  if (!jobset) throw new NotFoundError(`there is no channel ${spec}; \`flox channels\` lists them`);
  return jobset;
}

/** Adds the subscription; `created` is false when the machine followed it already. */
export function subscribe(db: Db, machine: MachineRow, body: SubscriptionBody): { created: boolean } {
  const values = body.profile
    ? { machineId: machine.id, profileId: resolveProfile(db, machine, body.profile).id }
    : { machineId: machine.id, jobsetId: resolveChannel(db, machine, body.channel ?? "").id };
  const r = db.insert(subscriptions).values(values).onConflictDoNothing().run();
  return { created: r.changes > 0 };
}

export function unsubscribe(db: Db, machine: MachineRow, body: SubscriptionBody): void {
  const where = body.profile
    ? eq(subscriptions.profileId, resolveProfile(db, machine, body.profile).id)
    : eq(subscriptions.jobsetId, resolveChannel(db, machine, body.channel ?? "").id);
  const r = db
    .delete(subscriptions)
    .where(and(eq(subscriptions.machineId, machine.id), where))
    .run();
  if (r.changes === 0) {
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

export function listSubscriptions(db: Db, machineIds: number[]): Map<number, SubscriptionRow[]> {
  const out = new Map<number, SubscriptionRow[]>();
  if (machineIds.length === 0) return out;
  const rows = db
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
    .orderBy(asc(subscriptions.id))
    .all();
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
        name: channelName(orgNameOf(db, r.jobsetOrgId ?? -1), r.branch ?? "?"),
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
export function snapshotOf(db: Db, sub: SubscriptionRow): ProfileChange | ChannelChange {
  if (sub.profileId !== null) {
    const p = db.select().from(profiles).where(eq(profiles.id, sub.profileId)).get();
    const g =
      p && p.current !== null
        ? db
            .select()
            .from(profileGenerations)
            .where(and(eq(profileGenerations.profileId, p.id), eq(profileGenerations.number, p.current)))
            .get()
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
  const point = currentPoint(db, sub.jobsetId ?? -1);
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

/** Records what the machine runs. `ok` moves `running` to the generation; `failed` leaves it where it was. */
export function recordReport(db: Db, machine: MachineRow, body: ReportBody): void {
  const profile = resolveProfile(db, machine, body.profile);
  const subscribed = db
    .select({ id: subscriptions.id })
    .from(subscriptions)
    .where(and(eq(subscriptions.machineId, machine.id), eq(subscriptions.profileId, profile.id)))
    .get();
  if (!subscribed) {
    throw new ConflictError(
      `machine "${machine.name}" does not follow ${body.profile}; subscribe first (flox subscribe ${body.profile})`,
    );
  }
  const gen = db
    .select({ n: profileGenerations.number })
    .from(profileGenerations)
    .where(and(eq(profileGenerations.profileId, profile.id), eq(profileGenerations.number, body.generation)))
    .get();
  if (!gen) throw new NotFoundError(`${body.profile} has no generation ${body.generation}`);
  const now = stamp();
  const report = {
    generation: body.generation,
    status: body.status,
    message: body.message ?? null,
    reportedAt: now,
  };
  db.transaction((tx) => {
    tx.insert(machineProfiles)
      .values({
        machineId: machine.id,
        profileId: profile.id,
        running: body.status === "ok" ? body.generation : null,
        ...report,
      })
      .onConflictDoUpdate({
        target: [machineProfiles.machineId, machineProfiles.profileId],
        set: body.status === "ok" ? { running: body.generation, ...report } : report,
      })
      .run();
    tx.update(machines).set({ lastSeenAt: now }).where(eq(machines.id, machine.id)).run();
  });
}

function profileStates(db: Db, machineIds: number[]): Map<number, MachineProfileState[]> {
  const out = new Map<number, MachineProfileState[]>();
  if (machineIds.length === 0) return out;
  const rows = db
    .select({ r: machineProfiles, profile: profiles.name, org: orgs.name })
    .from(machineProfiles)
    .innerJoin(profiles, eq(profiles.id, machineProfiles.profileId))
    .innerJoin(orgs, eq(orgs.id, profiles.orgId))
    .where(inArray(machineProfiles.machineId, machineIds))
    .orderBy(asc(orgs.name), asc(profiles.name))
    .all();
  for (const { r, profile, org } of rows) {
    const list = out.get(r.machineId) ?? [];
    out.set(r.machineId, list);
    list.push({
      profile: `${org}/${profile}`,
      running: r.running,
      generation: r.generation,
      status: r.status,
      message: r.message,
      reportedAt: r.reportedAt,
    });
  }
  return out;
}

/** Machines of the given orgs (every org when undefined), or only `onlyId`; by org, then name. */
export function listMachines(
  db: Db,
  filter: { orgIds?: number[] | undefined; onlyId?: number },
  connected: (machineId: number) => boolean,
): Machine[] {
  const conds = [];
  if (filter.orgIds) conds.push(inArray(machines.orgId, filter.orgIds.length ? filter.orgIds : [-1]));
  if (filter.onlyId !== undefined) conds.push(eq(machines.id, filter.onlyId));
  const rows = db
    .select({ m: machines, org: orgs.name })
    .from(machines)
    .innerJoin(orgs, eq(orgs.id, machines.orgId))
    .where(conds.length ? and(...conds) : undefined)
    .orderBy(asc(orgs.name), asc(machines.name))
    .all();
  const ids = rows.map((r) => r.m.id);
  const subs = listSubscriptions(db, ids);
  const states = profileStates(db, ids);
  return rows.map(({ m, org }) => ({
    name: m.name,
    org,
    createdAt: m.createdAt,
    lastSeen: m.lastSeenAt,
    connected: connected(m.id),
    subscriptions: (subs.get(m.id) ?? []).map(({ kind, name, createdAt }) => ({ kind, name, createdAt })),
    profiles: states.get(m.id) ?? [],
  }));
}

/** The rollout of the profile's live generation over the machines that follow it. */
export function profileStatus(
  db: Db,
  orgName: string,
  profile: ProfileRow,
  connected: (machineId: number) => boolean,
): ProfileStatus {
  const live = profile.current;
  const storePath =
    live === null
      ? null
      : (db
          .select({ p: profileGenerations.storePath })
          .from(profileGenerations)
          .where(and(eq(profileGenerations.profileId, profile.id), eq(profileGenerations.number, live)))
          .get()?.p ?? null);
  const rows = db
    .select({ m: machines, r: machineProfiles })
    .from(subscriptions)
    .innerJoin(machines, eq(machines.id, subscriptions.machineId))
    .leftJoin(
      machineProfiles,
      and(eq(machineProfiles.machineId, machines.id), eq(machineProfiles.profileId, profile.id)),
    )
    .where(and(eq(subscriptions.profileId, profile.id), isNotNull(subscriptions.profileId)))
    .orderBy(asc(machines.name))
    .all();
  const list = rows.map(({ m, r }) => ({
    machine: m.name,
    running: r?.running ?? null,
    lagging: live !== null && (r?.running ?? null) !== live,
    generation: r?.generation ?? null,
    status: r?.status ?? null,
    message: r?.message ?? null,
    reportedAt: r?.reportedAt ?? null,
    lastSeen: m.lastSeenAt,
    connected: connected(m.id),
  }));
  const counts = new Map<number | null, number>();
  for (const m of list) counts.set(m.running, (counts.get(m.running) ?? 0) + 1);
  return {
    profile: `${orgName}/${profile.name}`,
    live,
    storePath,
    counts: [...counts.entries()]
      .map(([generation, n]) => ({ generation, machines: n }))
      .sort((a, b) => b.machines - a.machines || (b.generation ?? 0) - (a.generation ?? 0)),
    machines: list,
    summary: {
      machines: list.length,
      onLive: list.filter((m) => live !== null && m.running === live).length,
      lagging: list.filter((m) => m.lagging).length,
      failed: list.filter((m) => m.status === "failed").length,
    },
  };
}
