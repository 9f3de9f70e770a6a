// The evaluation page's view model: which jobs a filter and page show, their counts and the page's verdict; one
// place for the full page and each live update.

import { z } from "zod";
import type { EvalJob, EvaluationResponse } from "../../../lib/api/evaluations.js";
import type { Db } from "../../db/open.js";
import { buildTimes, finishedStates } from "../../evaluations/data.js";
import { emptyCounts, verdict } from "../ci-data.js";
import { type StateCounts, toneOf } from "../components.js";

/** Jobs per page, and packages with problems per page. */
export const JOBS_PER_PAGE = 100;
export const PROBLEM_PACKAGES_PER_PAGE = 50;

export const Filter = z.enum(["all", "failing", "running", "queued", "succeeded"]).catch("all");
export const Page = z.coerce.number().int().min(1).max(1_000_000).catch(1);
export type Filter = z.infer<typeof Filter>;

export const inFilter: Record<Filter, (state: string) => boolean> = {
  all: () => true,
  failing: (s) => toneOf(s) === "bad",
  running: (s) => s === "running",
  queued: (s) => s === "queued",
  succeeded: (s) => s === "succeeded" || s === "cached",
};

export type EvalDetail = EvaluationResponse["evaluation"];

/** What the page (and each live update) shows, from the evaluation and the page's filter and page number. */
export interface EvalView {
  ev: EvalDetail;
  org: string;
  base: string;
  filter: Filter;
  listed: number;
  page: number;
  pages: number;
  rows: EvalJob[];
  times: Map<number, { startedAt: string | null; finishedAt: string | null }>;
  counts: StateCounts;
  byFilter: Record<Filter, number>;
  status: ReturnType<typeof verdict>;
  now: number;
}

export async function viewOf(
  db: Db,
  ev: EvalDetail,
  org: string,
  filter: Filter,
  page: number,
): Promise<EvalView> {
  const counts = emptyCounts();
  const byFilter: Record<Filter, number> = {
    all: ev.jobs.length,
    failing: 0,
    running: 0,
    queued: 0,
    succeeded: 0,
  };
  for (const j of ev.jobs) {
    for (const f of ["failing", "running", "queued", "succeeded"] as const)
      if (inFilter[f](j.build.state)) byFilter[f]++;
    if (j.build.state === "cancelled") counts.cancelled++;
  }
  counts.failed = byFilter.failing;
  counts.running = byFilter.running;
  counts.queued = byFilter.queued;
  counts.succeeded = byFilter.succeeded;
  const listed = ev.jobs.filter((j) => inFilter[filter](j.build.state));
  const pages = Math.max(1, Math.ceil(listed.length / JOBS_PER_PAGE));
  const at = Math.min(page, pages);
  const rows = listed.slice((at - 1) * JOBS_PER_PAGE, at * JOBS_PER_PAGE);
  const ids = rows.map((r) => r.build.id);
  const times = await buildTimes(db, ids);
  return {
    ev,
    org,
    base: `/${org}/evaluations/${ev.id}`,
    filter,
    listed: listed.length,
    page: at,
    pages,
    rows,
    times,
    counts,
    byFilter,
    status: verdict(ev.state, counts, ev.counts.problems),
    now: Date.now(),
  };
}

/** Still changing: evaluating, or builds queued or running. The page follows `…/live` until it is not. */
export const isLive = (v: EvalView) =>
  !finishedStates.includes(v.ev.state) || v.counts.running + v.counts.queued > 0;
