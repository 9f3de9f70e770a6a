// GC records → the API's shapes (lib/api/storehouse-gc.ts), for the API and the /-/storehouse page alike.
import type { GcRun, Pin, StorehouseUsage } from "../../../lib/api/storehouse-gc.js";
import type { PinRecord } from "./pins.js";
import type { GcRunRow } from "./runs.js";
import type { GcService } from "./service.js";
import type { StorehouseUsage as UsageRecord } from "./usage.js";

export function presentGcRun(r: GcRunRow): GcRun {
  return {
    id: r.id,
    state: r.state,
    trigger: r.trigger,
    paths: r.paths,
    bytes: r.bytes,
    other: r.other,
    error: r.error,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
  };
}

/** `orgIds`: the orgs whose lines the caller may see (undefined: all). */
export function presentUsage(u: UsageRecord, gc: GcService, orgIds?: number[]): StorehouseUsage {
  return {
    totalBytes: u.totalBytes,
    totalPaths: u.totalPaths,
    roots: u.roots,
    orgs: u.orgs
      .filter((o) => orgIds === undefined || orgIds.includes(o.orgId))
      .map(({ orgId: _id, ...o }) => o),
    nextGc: u.nextGc,
    lastRun: u.lastRun ? presentGcRun(u.lastRun) : null,
    schedule: gc.schedule,
    nextRunAt: gc.nextRun()?.toISOString() ?? null,
    targetBytes: gc.targetBytes,
  };
}

export function presentPin(p: PinRecord): Pin {
  return {
    id: p.id,
    storePath: p.storePath,
    name: p.name,
    org: p.org,
    until: p.until,
    createdBy: p.createdBy,
    createdAt: p.createdAt,
    present: p.present,
  };
}
