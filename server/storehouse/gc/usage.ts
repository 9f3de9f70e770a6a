// What the Storehouse holds per org (the closure of the org's roots: what survives a collection), the roots by
// kind, and what the next collection would free.
import { orgs } from "../../db/tables.js";
import { addClosure, hashPart, type PathIndex } from "./closure.js";
import { countRoots, type GcStore, planGc } from "./collect.js";
import { retentionByOrg } from "./retention.js";
import type { Root, RootKind } from "./roots.js";
import { type GcRunRow, lastRun } from "./runs.js";

export interface OrgUsage {
  org: string;
  orgId: number;
  /** NAR bytes of the closure of its roots (paths shared with other orgs count for each). */
  bytes: number;
  paths: number;
  quotaBytes: number | null;
  keepEvaluations: number;
  keepChannelDays: number;
}

export interface StorehouseUsage {
  totalBytes: number;
  totalPaths: number;
  roots: Record<RootKind, number>;
  orgs: OrgUsage[];
  nextGc: { paths: number; bytes: number };
  lastRun: GcRunRow | null;
}

/** NAR bytes and paths of the closure of the roots that belong to `orgId`. */
export function closureBytes(
  index: PathIndex,
  roots: Root[],
  orgId: number,
): { bytes: number; paths: number } {
  const start: string[] = [];
  for (const r of roots) {
    const h = r.orgId === orgId ? hashPart(r.storePath) : undefined;
    if (h) start.push(h);
  }
  const set = addClosure(index, start, new Set());
  let bytes = 0;
  for (const h of set) bytes += index.get(h)?.fileSize ?? 0;
  return { bytes, paths: set.size };
}

export async function storehouseUsage(
  s: GcStore,
  opts: { orgId: number | null; targetBytes: number | null },
): Promise<StorehouseUsage> {
  const { plan, index, rootSet } = await planGc(s, opts);
  const retention = await retentionByOrg(s.db);
  const all = await s.db.select({ id: orgs.id, name: orgs.name }).from(orgs).orderBy(orgs.name);
  const wanted = opts.orgId === null ? all : all.filter((o) => o.id === opts.orgId);
  const roots = opts.orgId === null ? rootSet.roots : rootSet.roots.filter((r) => r.orgId === opts.orgId);
  return {
    totalBytes: plan.totalBytes,
    totalPaths: index.size,
    roots: countRoots(roots),
    orgs: wanted.map((o) => {
      const r = retention(o.id);
      return {
        org: o.name,
        orgId: o.id,
        ...closureBytes(index, rootSet.roots, o.id),
        quotaBytes: r.quotaBytes,
        keepEvaluations: r.keepEvaluations,
        keepChannelDays: r.keepChannelDays,
      };
    }),
    nextGc: { paths: plan.paths.length, bytes: plan.bytes },
    lastRun: (await lastRun(s.db)) ?? null,
  };
}
