// Profiles: named package sets of an org, changed only through `ProfileEditor` (one edit at a time per profile).
// Every change that alters the packages makes a numbered generation — a user environment in the Storehouse —
// and every change at all (rollback too) is an event with its author, host, command and reason.
import { and, asc, eq, inArray } from "drizzle-orm";
import type { Db, Tx } from "../db/open.js";
import { first, one } from "../db/raw.js";
import { type ProfileEntry, profileEvents, profileGenerations, profiles } from "../db/tables.js";
import { inTransaction } from "../db/transaction.js";
import { ConflictError, NotFoundError } from "../errors.js";
import type { OrgRecord } from "../orgs/orgs.js";

export type ProfileRow = typeof profiles.$inferSelect;
export type GenerationRow = typeof profileGenerations.$inferSelect;
export type ProfileEventRow = typeof profileEvents.$inferSelect;

/** Who asks for a change, and why: kept with every event. */
export interface ChangeMeta {
  author: string;
  host?: string | undefined;
  command?: string | undefined;
  reason?: string | undefined;
}

export const DEFAULT_PRIORITY = 5;

export async function findProfile(
  db: Db | Tx,
  org: OrgRecord,
  name: string,
): Promise<ProfileRow | undefined> {
  return await db
    .select()
    .from(profiles)
    .where(and(eq(profiles.orgId, org.id), eq(profiles.name, name)))
    .then(first);
}

export async function getProfile(db: Db, org: OrgRecord, name: string): Promise<ProfileRow> {
  const p = await findProfile(db, org, name);
  if (!p)
    throw new NotFoundError(
      `there is no profile ${org.name}/${name}; make it with: flox profile create ${org.name}/${name}`,
    );
  return p;
}

export async function listProfiles(db: Db, orgIds: number[] | undefined): Promise<ProfileRow[]> {
  return await db
    .select()
    .from(profiles)
    .where(orgIds ? inArray(profiles.orgId, orgIds.length ? orgIds : [-1]) : undefined)
    .orderBy(asc(profiles.orgId), asc(profiles.name));
}

export async function createProfile(
  db: Db,
  org: OrgRecord,
  name: string,
  meta: ChangeMeta,
): Promise<ProfileRow> {
  return inTransaction(db, async (tx) => {
    if (await findProfile(tx, org, name)) {
      throw new ConflictError(`profile ${org.name}/${name} exists already`);
    }
    const row = await tx.insert(profiles).values({ orgId: org.id, name }).returning().then(one);
    await tx.insert(profileEvents).values({ profileId: row.id, action: "create", ...eventMeta(meta) });
    return row;
  });
}

/** A change's author and reasons as the event columns keep them. */
export function eventMeta(meta: ChangeMeta) {
  return {
    author: meta.author,
    host: meta.host ?? null,
    command: meta.command ?? null,
    reason: meta.reason ?? null,
  };
}

export async function listGenerations(db: Db, profileId: number): Promise<GenerationRow[]> {
  return await db
    .select()
    .from(profileGenerations)
    .where(eq(profileGenerations.profileId, profileId))
    .orderBy(asc(profileGenerations.number));
}

export async function getGeneration(db: Db, profile: ProfileRow, number: number): Promise<GenerationRow> {
  const g = await db
    .select()
    .from(profileGenerations)
    .where(and(eq(profileGenerations.profileId, profile.id), eq(profileGenerations.number, number)))
    .then(first);
  if (!g)
    throw new NotFoundError(`profile has no generation ${number}; \`flox profile generations\` lists them`);
  return g;
}

export async function currentGeneration(db: Db, profile: ProfileRow): Promise<GenerationRow | undefined> {
  return profile.current === null ? undefined : await getGeneration(db, profile, profile.current);
}

export async function listEvents(db: Db, profileId: number): Promise<ProfileEventRow[]> {
  return await db
    .select()
    .from(profileEvents)
    .where(eq(profileEvents.profileId, profileId))
    .orderBy(asc(profileEvents.id));
}

export interface GenerationDiff {
  added: string[];
  removed: string[];
  /** Same label, other store paths (a followed channel moved, or a pin changed). */
  changed: string[];
}

export function diffEntries(from: readonly ProfileEntry[], to: readonly ProfileEntry[]): GenerationDiff {
  const a = new Map(from.map((e) => [e.label, e]));
  const b = new Map(to.map((e) => [e.label, e]));
  const same = (x: ProfileEntry, y: ProfileEntry) =>
    JSON.stringify(Object.entries(x.outputs).sort()) === JSON.stringify(Object.entries(y.outputs).sort()) &&
    x.priority === y.priority &&
    x.source === y.source;
  return {
    added: [...b.keys()].filter((k) => !a.has(k)).sort(),
    removed: [...a.keys()].filter((k) => !b.has(k)).sort(),
    changed: [...b.keys()]
      .filter((k) => a.has(k) && !same(a.get(k) as ProfileEntry, b.get(k) as ProfileEntry))
      .sort(),
  };
}
