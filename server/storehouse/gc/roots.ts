// The GC roots: what the Storehouse never collects (with its whole closure), each with its kind and org.
import { and, desc, eq, gte, inArray, isNotNull, isNull, or, sql } from "drizzle-orm";
import { rootKinds } from "../../../lib/api/storehouse-gc.js";
import type { Db } from "../../db/open.js";
import {
  builds,
  channelPoints,
  evalJobs,
  evaluations,
  gcPins,
  jobsets,
  machineProfiles,
  profileGenerations,
  profiles,
  subscriptions,
} from "../../db/tables.js";
import { type Retention, retentionByOrg } from "./retention.js";

export { rootKinds };
export type RootKind = (typeof rootKinds)[number];

/** One store path kept, why, and for which org (null: the server's own, e.g. a pin without --org). */
export interface Root {
  kind: RootKind;
  storePath: string;
  orgId: number | null;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const CHUNK = 500;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/** The roots, and the evaluations and channel points they came from (their logs and tarballs stay too). */
export interface RootSet {
  roots: Root[];
  keptEvaluations: Set<number>;
  keptPoints: Set<number>;
}

/** Every root as of `now`: newest evaluations, recent channel points, live and newest generations, pins, builds. */
export async function collectRoots(db: Db, now = new Date()): Promise<RootSet> {
  const retention = await retentionByOrg(db);
  const evals = await evaluationRoots(db, retention);
  const channels = await channelRoots(db, retention, now);
  return {
    roots: [
      ...evals.roots,
      ...channels.roots,
      ...(await profileRoots(db, retention, now)),
      ...(await pinRoots(db, now)),
      ...(await buildRoots(db)),
    ],
    keptEvaluations: new Set([...evals.evaluationIds, ...channels.evaluationIds]),
    keptPoints: channels.pointIds,
  };
}

/** The outputs (and .drv) of each job of the given evaluations. */
async function jobPaths(db: Db, evaluationIds: number[], kind: RootKind, orgOf: Map<number, number>) {
  const roots: Root[] = [];
  for (const ids of chunks(evaluationIds)) {
    const rows = await db
      .select({ evaluationId: evalJobs.evaluationId, drvPath: evalJobs.drvPath, outputs: evalJobs.outputs })
      .from(evalJobs)
      .where(inArray(evalJobs.evaluationId, ids));
    for (const r of rows) {
      const orgId = orgOf.get(r.evaluationId) ?? null;
      roots.push({ kind, storePath: r.drvPath, orgId });
      for (const out of Object.values(r.outputs)) roots.push({ kind, storePath: out, orgId });
    }
  }
  return roots;
}

/** Hydra's keepnr: the newest N evaluations of every jobset (N per org, default 3). */
async function evaluationRoots(
  db: Db,
  retention: (orgId: number) => Retention,
): Promise<{ roots: Root[]; evaluationIds: number[] }> {
  const rows = await db
    .select({ id: evaluations.id, jobsetId: evaluations.jobsetId, orgId: jobsets.orgId })
    .from(evaluations)
    .innerJoin(jobsets, sql`${jobsets.id} = ${evaluations.jobsetId}`)
    .orderBy(desc(evaluations.id));
  const seen = new Map<number, number>();
  const orgOf = new Map<number, number>();
  for (const r of rows) {
    const n = seen.get(r.jobsetId) ?? 0;
    if (n >= retention(r.orgId).keepEvaluations) continue;
    seen.set(r.jobsetId, n + 1);
    orgOf.set(r.id, r.orgId);
  }
  const evaluationIds = [...orgOf.keys()];
  return { roots: await jobPaths(db, evaluationIds, "evaluation", orgOf), evaluationIds };
}

/** Every channel point of the last D days (per org, default 30), and each channel's current point always. */
async function channelRoots(
  db: Db,
  retention: (orgId: number) => Retention,
  now: Date,
): Promise<{ roots: Root[]; evaluationIds: number[]; pointIds: Set<number> }> {
  const rows = await db
    .select({
      id: channelPoints.id,
      jobsetId: channelPoints.jobsetId,
      evaluationId: channelPoints.evaluationId,
      createdAt: channelPoints.createdAt,
      orgId: jobsets.orgId,
    })
    .from(channelPoints)
    .innerJoin(jobsets, sql`${jobsets.id} = ${channelPoints.jobsetId}`)
    .orderBy(desc(channelPoints.id));
  const current = new Set<number>();
  const orgOf = new Map<number, number>();
  const pointIds = new Set<number>();
  for (const r of rows) {
    const cutoff = now.getTime() - retention(r.orgId).keepChannelDays * DAY_MS;
    const isCurrent = !current.has(r.jobsetId);
    current.add(r.jobsetId);
    if (!isCurrent && Date.parse(r.createdAt) < cutoff) continue;
    orgOf.set(r.evaluationId, r.orgId);
    pointIds.add(r.id);
  }
  const evaluationIds = [...orgOf.keys()];
  return { roots: await jobPaths(db, evaluationIds, "channel", orgOf), evaluationIds, pointIds };
}

/** The newest K generations of each profile, its current one, what subscribed machines run, and what ran within D days. */
export const KEEP_GENERATIONS = 5;

async function profileRoots(db: Db, retention: (orgId: number) => Retention, now: Date): Promise<Root[]> {
  const gens = await db
    .select({
      profileId: profileGenerations.profileId,
      number: profileGenerations.number,
      storePath: profileGenerations.storePath,
      orgId: profiles.orgId,
      current: profiles.current,
    })
    .from(profileGenerations)
    .innerJoin(profiles, sql`${profiles.id} = ${profileGenerations.profileId}`)
    .orderBy(desc(profileGenerations.profileId), desc(profileGenerations.number));
  const reported = await db
    .select({
      profileId: machineProfiles.profileId,
      running: machineProfiles.running,
      reportedAt: machineProfiles.reportedAt,
      subscribed: subscriptions.id,
    })
    .from(machineProfiles)
    .leftJoin(
      subscriptions,
      and(
        eq(subscriptions.machineId, machineProfiles.machineId),
        eq(subscriptions.profileId, machineProfiles.profileId),
      ),
    )
    .where(isNotNull(machineProfiles.running));
  const live = new Set<string>();
  const orgOfProfile = new Map(gens.map((g) => [g.profileId, g.orgId]));
  for (const r of reported) {
    const orgId = orgOfProfile.get(r.profileId);
    if (orgId === undefined) continue;
    // What a subscribed machine runs now is kept always (as a channel's current point is); what it or a machine
    // since gone reported within D days too.
    const cutoff = now.getTime() - retention(orgId).keepChannelDays * DAY_MS;
    if (r.subscribed !== null || Date.parse(r.reportedAt) >= cutoff) live.add(`${r.profileId}/${r.running}`);
  }
  const seen = new Map<number, number>();
  const roots: Root[] = [];
  for (const g of gens) {
    const n = seen.get(g.profileId) ?? 0;
    seen.set(g.profileId, n + 1);
    if (n < KEEP_GENERATIONS || g.current === g.number || live.has(`${g.profileId}/${g.number}`))
      roots.push({ kind: "profile", storePath: g.storePath, orgId: g.orgId });
  }
  return roots;
}

/** Pins not yet expired. */
async function pinRoots(db: Db, now: Date): Promise<Root[]> {
  const rows = await db
    .select({ storePath: gcPins.storePath, orgId: gcPins.orgId })
    .from(gcPins)
    .where(or(isNull(gcPins.until), gte(gcPins.until, now.toISOString())));
  return rows.map((r) => ({ kind: "pin" as const, storePath: r.storePath, orgId: r.orgId }));
}

/** Builds waiting or running: their .drv closure is what builders substitute, their outputs are on their way. */
async function buildRoots(db: Db): Promise<Root[]> {
  const rows = await db
    .select({ id: builds.id, drvPath: builds.drvPath, outputs: builds.outputs })
    .from(builds)
    .where(inArray(builds.state, ["queued", "running"]));
  const orgs = await wantingOrgs(
    db,
    rows.map((r) => r.id),
  );
  const roots: Root[] = [];
  for (const r of rows) {
    const orgIds = orgs.get(r.id) ?? [null];
    for (const orgId of orgIds) {
      roots.push({ kind: "build", storePath: r.drvPath, orgId });
      for (const out of Object.values(r.outputs)) roots.push({ kind: "build", storePath: out, orgId });
    }
  }
  return roots;
}

/** The orgs whose jobs want each build (a build is shared by drv path across orgs). */
export async function wantingOrgs(db: Db, buildIds: number[]): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  for (const ids of chunks(buildIds)) {
    const rows = await db
      .selectDistinct({ buildId: evalJobs.buildId, orgId: jobsets.orgId })
      .from(evalJobs)
      .innerJoin(evaluations, sql`${evaluations.id} = ${evalJobs.evaluationId}`)
      .innerJoin(jobsets, sql`${jobsets.id} = ${evaluations.jobsetId}`)
      .where(and(inArray(evalJobs.buildId, ids), isNull(evalJobs.withdrawnAt)));
    for (const r of rows) out.set(r.buildId, [...(out.get(r.buildId) ?? []), r.orgId]);
  }
  return out;
}
