// Build records → the API's JSON shapes; shared by the JSON API (builds/routes.ts) and the web pages, so the two
// say the same thing about a build.
import type { Build, BuildDetail } from "../../lib/api/builds.js";
import type { Db } from "../db/open.js";
import {
  type BuildRow,
  dependenciesOfBuild,
  jobRowsOfBuilds,
  leasesOfBuilds,
  relayRowsOfBuilds,
  resultsOfBuilds,
} from "./builds.js";

/** Where each build is wanted, as the asker may see it: its readable orgs' jobs, and a count of the others. */
interface JobsOfBuild {
  jobs: Build["jobs"];
  otherJobs: number;
}

/**
 * The newest job per org, branch and attr of each build (at most 10 shown), each in its own state (`cancelled`
 * once its org withdrew). Jobs of orgs outside `visibleOrgIds` (undefined: all are visible) are only counted:
 * a shared build must not tell one org another's names.
 */
async function jobsOfBuilds(
  db: Db,
  ids: number[],
  visibleOrgIds: readonly number[] | undefined,
): Promise<Map<number, JobsOfBuild>> {
  const out = new Map<number, JobsOfBuild>();
  if (ids.length === 0) return out;
  const rows = await jobRowsOfBuilds(db, ids);
  const seen = new Set<string>();
  for (const r of rows) {
    const entry = out.get(r.buildId) ?? { jobs: [], otherJobs: 0 };
    out.set(r.buildId, entry);
    const key = JSON.stringify([r.buildId, r.orgId, r.branch, r.attr]);
    if (seen.has(key)) continue;
    seen.add(key);
    if (visibleOrgIds && !visibleOrgIds.includes(r.orgId)) entry.otherJobs++;
    else if (entry.jobs.length < 10)
      entry.jobs.push({
        org: r.org,
        branch: r.branch,
        attr: r.attr,
        evaluation: r.evaluation,
        state: r.state,
      });
  }
  return out;
}

/** The relayed connections that want each build, of the visible orgs (the others are counted with otherJobs). */
async function relayOfBuilds(
  db: Db,
  rows: readonly BuildRow[],
  visibleOrgIds: readonly number[] | undefined,
  jobs: Map<number, JobsOfBuild>,
): Promise<Map<number, Build["relay"]>> {
  const out = new Map<number, Build["relay"]>();
  const states = new Map(rows.map((r) => [r.id, r.state]));
  for (const r of await relayRowsOfBuilds(
    db,
    rows.map((b) => b.id),
  )) {
    const list = out.get(r.buildId) ?? [];
    out.set(r.buildId, list);
    if (visibleOrgIds && !visibleOrgIds.includes(r.orgId)) {
      const entry = jobs.get(r.buildId) ?? { jobs: [], otherJobs: 0 };
      entry.otherJobs++;
      jobs.set(r.buildId, entry);
    } else if (list.length < 10) {
      list.push({
        org: r.org,
        actor: r.actor,
        host: r.host,
        session: r.session,
        state: r.withdrawnAt ? "cancelled" : (states.get(r.buildId) ?? "queued"),
      });
    }
  }
  return out;
}

/**
 * The API's view of builds: with where they are wanted, who runs (or ran) them, and why they ended so.
 * `visibleOrgIds`: the orgs whose jobs the asker may see (readableOrgIds; undefined = all, an admin).
 */
export async function presentBuilds(
  db: Db,
  rows: readonly BuildRow[],
  visibleOrgIds: readonly number[] | undefined,
): Promise<Build[]> {
  const ids = rows.map((r) => r.id);
  const jobs = await jobsOfBuilds(db, ids, visibleOrgIds);
  const relay = await relayOfBuilds(db, rows, visibleOrgIds, jobs);
  const leases = await leasesOfBuilds(db, ids);
  const results = await resultsOfBuilds(db, ids);
  return rows.map((b) => ({
    id: b.id,
    drvPath: b.drvPath,
    system: b.system,
    requiredFeatures: b.requiredFeatures,
    outputs: b.outputs,
    state: b.state,
    priority: b.priority,
    attempts: b.attempts,
    builder: leases.get(b.id)?.builder ?? results.get(b.id)?.builder ?? null,
    message: results.get(b.id)?.message ?? null,
    jobs: jobs.get(b.id)?.jobs ?? [],
    otherJobs: jobs.get(b.id)?.otherJobs ?? 0,
    relay: relay.get(b.id) ?? [],
    createdAt: b.createdAt,
    startedAt: b.startedAt,
    finishedAt: b.finishedAt,
  }));
}

/** One build with the builds it waits for and the ones waiting for it. */
export async function presentBuildDetail(
  db: Db,
  row: BuildRow,
  visibleOrgIds: readonly number[] | undefined,
): Promise<BuildDetail> {
  const [build] = await presentBuilds(db, [row], visibleOrgIds);
  if (!build) throw new Error("presentBuilds lost a row");
  return { ...build, ...(await dependenciesOfBuild(db, row.id)) };
}
