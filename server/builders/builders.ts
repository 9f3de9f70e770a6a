// The builders as people see them: who is connected, what each runs now, and how long the queue is.
import { count, eq, gt, inArray } from "drizzle-orm";
import type { Builder, BuildQueue } from "../../lib/api/builders.js";
import type { Db } from "../db/open.js";
import { builders, buildLeases, builds } from "../db/tables.js";

/** A builder counts as connected while it called within this long. */
const CONNECTED_MS = 60_000;

/**
 * Every builder, with the builds it runs now. `visible` says which builds the asker may see (a build is its orgs'
 * business): the others are only counted, in `otherRunning`.
 */
export async function listBuilders(
  db: Db,
  visible: (buildId: number) => Promise<boolean> | boolean = () => true,
  now = Date.now(),
): Promise<Builder[]> {
  const leases = await db
    .select({ lease: buildLeases, drvPath: builds.drvPath })
    .from(buildLeases)
    .innerJoin(builds, eq(builds.id, buildLeases.buildId))
    .where(gt(buildLeases.expiresAt, now));
  const shown = new Set<number>();
  for (const l of leases) if (await visible(l.lease.buildId)) shown.add(l.lease.buildId);
  return (await db.select().from(builders).orderBy(builders.name)).map((b) => {
    const mine = leases.filter((l) => l.lease.builder === b.name);
    const running = mine
      .filter((l) => shown.has(l.lease.buildId))
      .map((l) => ({
        build: l.lease.buildId,
        drvPath: l.drvPath,
        attempt: l.lease.attempt,
        since: l.lease.claimedAt,
      }));
    return {
      name: b.name,
      systems: b.systems,
      features: b.features,
      maxJobs: b.maxJobs,
      lastSeen: b.lastSeen,
      connected: mine.length > 0 || now - Date.parse(b.lastSeen) < CONNECTED_MS,
      running,
      otherRunning: mine.length - running.length,
    };
  });
}

/** How many builds wait in the queue and how many run, over every org (the builders are shared). */
export async function queueFigures(db: Db): Promise<BuildQueue> {
  const rows = await db
    .select({ state: builds.state, n: count() })
    .from(builds)
    .where(inArray(builds.state, ["queued", "running"]))
    .groupBy(builds.state);
  const n = (state: string) => rows.find((r) => r.state === state)?.n ?? 0;
  return { queued: n("queued"), running: n("running") };
}
