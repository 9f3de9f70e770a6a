// Build logs and channel tarballs follow their builds' and channel points' retention.
import { inArray } from "drizzle-orm";
import type { Db } from "../../db/open.js";
import { builds, evalJobs } from "../../db/tables.js";
import type { ObjectStore } from "../objects/object-store.js";
import { deleteGroupObjects, listBuildLogObjects, listChannelTarballObjects } from "./delete-objects.js";

export interface Retired {
  count: number;
  bytes: number;
}

const CHUNK = 500;

/**
 * The logs of builds no kept evaluation or channel point wants, and that are not waiting or running: Hydra drops a
 * build's log with the build. `keptEvaluations` comes from the roots.
 */
export async function retireBuildLogs(
  db: Db,
  objects: ObjectStore,
  keptEvaluations: Set<number>,
  dryRun: boolean,
): Promise<Retired> {
  const logs = await listBuildLogObjects(objects);
  if (logs.size === 0) return { count: 0, bytes: 0 };
  const keep = new Set<number>();
  const evals = [...keptEvaluations];
  for (let i = 0; i < evals.length; i += CHUNK) {
    const rows = await db
      .selectDistinct({ id: evalJobs.buildId })
      .from(evalJobs)
      .where(inArray(evalJobs.evaluationId, evals.slice(i, i + CHUNK)));
    for (const r of rows) keep.add(r.id);
  }
  const busy = await db
    .select({ id: builds.id })
    .from(builds)
    .where(inArray(builds.state, ["queued", "running"]));
  for (const r of busy) keep.add(r.id);
  const out: Retired = { count: 0, bytes: 0 };
  for (const [id, pieces] of logs) {
    if (keep.has(id)) continue;
    out.count++;
    out.bytes += dryRun ? pieces.bytes : await deleteGroupObjects(objects, pieces);
  }
  return out;
}

/** The tarballs of channel points that are no longer kept (they are made again on request, should one be asked). */
export async function retireChannelTarballs(
  objects: ObjectStore,
  keptPoints: Set<number>,
  dryRun: boolean,
): Promise<Retired> {
  const out: Retired = { count: 0, bytes: 0 };
  for (const [id, tarballs] of await listChannelTarballObjects(objects)) {
    if (keptPoints.has(id)) continue;
    out.count++;
    out.bytes += dryRun ? tarballs.bytes : await deleteGroupObjects(objects, tarballs);
  }
  return out;
}
