// What machines run: their reports in; the machine listing and a profile's rollout status out.
import { and, asc, eq, inArray, isNotNull } from "drizzle-orm";
import type { Machine, MachineProfileState, ReportBody } from "../../lib/api/machines.js";
import type { ProfileStatus } from "../../lib/api/profiles.js";
import type { Db } from "../db/open.js";
import { first } from "../db/raw.js";
import {
  machineProfiles,
  machines,
  orgs,
  profileGenerations,
  profiles,
  subscriptions,
} from "../db/tables.js";
import { inTransaction } from "../db/transaction.js";
import { ConflictError, NotFoundError } from "../errors.js";
import type { ProfileRow } from "../profiles/profiles.js";
import { type MachineRow, stamp } from "./machines.js";
import { listSubscriptions, resolveProfile } from "./subscriptions.js";

/** Records what the machine runs. `ok` moves `running` to the generation; `failed` leaves it where it was. */
export async function recordReport(db: Db, machine: MachineRow, body: ReportBody): Promise<void> {
  const profile = await resolveProfile(db, machine, body.profile);
  const subscribed = await db
    .select({ id: subscriptions.id })
    .from(subscriptions)
    .where(and(eq(subscriptions.machineId, machine.id), eq(subscriptions.profileId, profile.id)))
    .then(first);
  if (!subscribed) {
    throw new ConflictError(
      `machine "${machine.name}" does not follow ${body.profile}; subscribe first (flox subscribe ${body.profile})`,
    );
  }
  const gen = await db
    .select({ n: profileGenerations.number })
    .from(profileGenerations)
    .where(and(eq(profileGenerations.profileId, profile.id), eq(profileGenerations.number, body.generation)))
    .then(first);
  if (!gen) throw new NotFoundError(`${body.profile} has no generation ${body.generation}`);
  const now = stamp();
  const report = {
    generation: body.generation,
    status: body.status,
    message: body.message ?? null,
    reportedAt: now,
  };
  await inTransaction(db, async (tx) => {
    await tx
      .insert(machineProfiles)
      .values({
        machineId: machine.id,
        profileId: profile.id,
        running: body.status === "ok" ? body.generation : null,
        ...report,
      })
      .onConflictDoUpdate({
        target: [machineProfiles.machineId, machineProfiles.profileId],
        set: body.status === "ok" ? { running: body.generation, ...report } : report,
      });
    await tx.update(machines).set({ lastSeenAt: now }).where(eq(machines.id, machine.id));
  });
}

async function profileStates(db: Db, machineIds: number[]): Promise<Map<number, MachineProfileState[]>> {
  const out = new Map<number, MachineProfileState[]>();
  if (machineIds.length === 0) return out;
  const rows = await db
    .select({ r: machineProfiles, profile: profiles.name, org: orgs.name })
    .from(machineProfiles)
    .innerJoin(profiles, eq(profiles.id, machineProfiles.profileId))
    .innerJoin(orgs, eq(orgs.id, profiles.orgId))
    .where(inArray(machineProfiles.machineId, machineIds))
    .orderBy(asc(orgs.name), asc(profiles.name));
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
export async function listMachines(
  db: Db,
  filter: { orgIds?: number[] | undefined; onlyId?: number },
  connected: (machineId: number) => boolean,
): Promise<Machine[]> {
  const conds = [];
  if (filter.orgIds) conds.push(inArray(machines.orgId, filter.orgIds.length ? filter.orgIds : [-1]));
  if (filter.onlyId !== undefined) conds.push(eq(machines.id, filter.onlyId));
  const rows = await db
    .select({ m: machines, org: orgs.name })
    .from(machines)
    .innerJoin(orgs, eq(orgs.id, machines.orgId))
    .where(conds.length ? and(...conds) : undefined)
    .orderBy(asc(orgs.name), asc(machines.name));
  const ids = rows.map((r) => r.m.id);
  const subs = await listSubscriptions(db, ids);
  const states = await profileStates(db, ids);
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
export async function profileStatus(
  db: Db,
  orgName: string,
  profile: ProfileRow,
  connected: (machineId: number) => boolean,
): Promise<ProfileStatus> {
  const live = profile.current;
  const storePath =
    live === null
      ? null
      : ((
          await db
            .select({ p: profileGenerations.storePath })
            .from(profileGenerations)
            .where(and(eq(profileGenerations.profileId, profile.id), eq(profileGenerations.number, live)))
            .then(first)
        )?.p ?? null);
  const rows = await db
    .select({ m: machines, r: machineProfiles })
    .from(subscriptions)
    .innerJoin(machines, eq(machines.id, subscriptions.machineId))
    .leftJoin(
      machineProfiles,
      and(eq(machineProfiles.machineId, machines.id), eq(machineProfiles.profileId, profile.id)),
    )
    .where(and(eq(subscriptions.profileId, profile.id), isNotNull(subscriptions.profileId)))
    .orderBy(asc(machines.name));
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
