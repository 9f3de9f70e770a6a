// Channel records → the API's JSON shapes; shared by the JSON API (api-routes.ts) and the web pages, so the
// two say the same thing.
import type { Channel, ChannelHistoryPoint, ChannelPoint, PackageChanges } from "../../lib/api/channels.js";
import type { Db } from "../db/open.js";
import type { JobsetRow } from "../evaluations/data.js";
import type { OrgRecord } from "../orgs/orgs.js";
import {
  type ChannelPointRow,
  channelHistory,
  channelName,
  currentPoint,
  publishedJobs,
} from "./channels.js";

export const presentPoint = (p: ChannelPointRow): ChannelPoint => ({
  id: p.id,
  evaluation: p.evaluationId,
  commitSha: p.commitSha,
  reason: p.reason,
  actor: p.actor,
  createdAt: p.createdAt,
});

/** `origin` is how the client reached us, so the channel URL works from where it stands. */
export function channelUrl(origin: string, name: string): string {
  return `${origin}/channels/${name.split("/").map(encodeURIComponent).join("/")}`;
}

export async function presentChannelSummary(
  db: Db,
  origin: string,
  org: OrgRecord,
  jobset: JobsetRow,
): Promise<Omit<Channel, "packages">> {
  const name = channelName(org.name, jobset.branch);
  const point = await currentPoint(db, jobset.id);
  return {
    name,
    org: org.name,
    branch: jobset.branch,
    url: channelUrl(origin, name),
    pinned: jobset.channelPinned,
    current: point ? presentPoint(point) : null,
  };
}

/** attr → out path (the `out` output, or the first) of what an evaluation publishes. */
export async function publishedPackages(db: Db, evaluationId: number): Promise<Record<string, string>> {
  const packages: Record<string, string> = {};
  for (const job of await publishedJobs(db, evaluationId)) {
    const out = job.outputs.out ?? Object.values(job.outputs)[0];
    if (out) packages[job.attr] = out;
  }
  return packages;
}

export async function presentChannel(
  db: Db,
  origin: string,
  org: OrgRecord,
  jobset: JobsetRow,
): Promise<Channel> {
  const s = await presentChannelSummary(db, origin, org, jobset);
  return { ...s, packages: s.current ? await publishedPackages(db, s.current.evaluation) : {} };
}

/** What moved from one set of published packages to the next: attrs new, gone, or at another out path. */
export function packageChanges(from: Record<string, string>, to: Record<string, string>): PackageChanges {
  const had = new Set(Object.keys(from));
  const has = Object.keys(to);
  return {
    added: has.filter((a) => !had.has(a)).sort(),
    removed: [...had].filter((a) => !(a in to)).sort(),
    changed: has.filter((a) => had.has(a) && from[a] !== to[a]).sort(),
  };
}

/** Oldest first; each point with what it changed against the one before (the first: everything added). */
export async function presentChannelHistory(db: Db, jobsetId: number): Promise<ChannelHistoryPoint[]> {
  let before: Record<string, string> = {};
  const memo = new Map<number, Record<string, string>>();
  const history: ChannelHistoryPoint[] = [];
  for (const p of await channelHistory(db, jobsetId)) {
    let now = memo.get(p.evaluationId);
    if (!now) {
      now = await publishedPackages(db, p.evaluationId);
      memo.set(p.evaluationId, now);
    }
    const changes = packageChanges(before, now);
    before = now;
    history.push({ ...presentPoint(p), changes });
  }
  return history;
}
