// GET /:org/evaluations/:id — the comparison with the previous evaluation at the top, jobs by status (paged, so a
// 2,000-job evaluation is still a small page), evaluation problems per package (collapsed, paged).
// JSON: exactly GET /api/v1/evaluations/:id. POST …/cancel and …/restart for members.
import { createHash } from "node:crypto";
import { and, asc, eq, inArray } from "drizzle-orm";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { EvalJob, EvalProblem, EvaluationResponse } from "../../../lib/api/evaluations.js";
import { cancelEvaluationBuilds, restartEvaluationBuilds } from "../../builds/records.js";
import { jobState } from "../../builds/wants.js";
import { builds, evalJobs } from "../../db/schema.js";
import { roleAtLeast } from "../../domain/permissions.js";
import { findTokenById } from "../../domain/tokens.js";
import { ForbiddenError, NotFoundError } from "../../errors.js";
import { findEvaluation, finishedStates, getEvaluation } from "../../evaluations/records.js";
import type { AppContext } from "../../routes/env.js";
import { evaluationDetail } from "../../routes/evaluations.js";
import { emptyCounts, verdict } from "../ci-data.js";
import { commitInfo } from "../commits.js";
import {
  ActionForm,
  Card,
  duration,
  type StateCounts,
  StatePill,
  shortSha,
  Time,
  toneOf,
} from "../components.js";
import { requireCsrf } from "../csrf.js";
import { Layout, OrgTabs, PageHead } from "../layout.js";
import { respond, wantsJson } from "../negotiate.js";
import {
  readableOrgForViewer,
  requireViewer,
  resolveViewer,
  type WebContext,
  type WebEnv,
} from "../viewer.js";

/** Jobs per page, and packages with problems per page. */
export const JOBS_PER_PAGE = 100;
export const PROBLEM_PACKAGES_PER_PAGE = 50;

const Id = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const Filter = z.enum(["all", "failing", "running", "queued", "succeeded"]).catch("all");
const Page = z.coerce.number().int().min(1).max(1_000_000).catch(1);
type Filter = z.infer<typeof Filter>;

const inFilter: Record<Filter, (state: string) => boolean> = {
  all: () => true,
  failing: (s) => toneOf(s) === "bad",
  running: (s) => s === "running",
  queued: (s) => s === "queued",
  succeeded: (s) => s === "succeeded" || s === "cached",
};

function load(ctx: AppContext, c: WebContext) {
  const { org, role, viewer } = readableOrgForViewer(ctx, c, c.req.param("org") ?? "");
  const id = Id.safeParse(c.req.param("id"));
  const e = id.success
    ? (() => {
        try {
          return getEvaluation(ctx.db, id.data);
        } catch {
          return undefined;
        }
      })()
    : undefined;
  if (!e || e.org !== org.name)
    throw new NotFoundError(`org "${org.name}" has no evaluation ${c.req.param("id")}`);
  return { org, role, viewer, e };
}

function CompareCol(p: {
  label: string;
  attrs: string[];
  tone?: "ok" | "bad";
  jobs: Map<string, EvalJob>;
  org: string;
}) {
  const shown = p.attrs.slice(0, 8);
  return (
    <div class={p.tone ?? ""} data-compare={p.label}>
      <div class="k">{p.label}</div>
      <div class="v">{p.attrs.length}</div>
      <ul>
        {shown.map((a) => {
          const j = p.jobs.get(a);
          return <li>{j ? <a href={`/${p.org}/builds/${j.build.id}`}>{a}</a> : <span>{a}</span>}</li>;
        })}
        {p.attrs.length > shown.length ? <li class="muted">+{p.attrs.length - shown.length} more</li> : null}
      </ul>
    </div>
  );
}

function Pager(p: {
  page: number;
  pages: number;
  href: (page: number) => string;
  what: string;
  total: number;
}) {
  if (p.pages <= 1) return null;
  return (
    <div class="pager">
      <span>
        page {p.page} of {p.pages} · {p.total} {p.what}
      </span>
      {p.page > 1 ? (
        <a class="btn" href={p.href(p.page - 1)}>
          ← Previous
        </a>
      ) : null}
      {p.page < p.pages ? (
        <a class="btn" href={p.href(p.page + 1)}>
          Next →
        </a>
      ) : null}
    </div>
  );
}

function ProblemGroups(p: { problems: EvalProblem[]; page: number; base: string }) {
  const groups = new Map<string, EvalProblem[]>();
  for (const x of p.problems) {
    const key = x.attr ?? "";
    groups.set(key, [...(groups.get(key) ?? []), x]);
  }
  const all = [...groups.entries()];
  const pages = Math.max(1, Math.ceil(all.length / PROBLEM_PACKAGES_PER_PAGE));
  const page = Math.min(p.page, pages);
  const shown = all.slice((page - 1) * PROBLEM_PACKAGES_PER_PAGE, page * PROBLEM_PACKAGES_PER_PAGE);
  return (
    <>
      {shown.map(([attr, list]) => (
        <details class="prob" data-package={attr}>
          <summary>
            <StatePill state="failed" label={`${list.length} problem${list.length === 1 ? "" : "s"}`} />
            <strong>{attr || "outside any package"}</strong>
            <span class="muted small trunc">
              {list[0]?.path}:{list[0]?.line} — {list[0]?.message}
            </span>
          </summary>
          <ul>
            {list.map((x) => (
              <li>
                <code>
                  {x.path}:{x.line}
                </code>
                : {x.message}
                {x.hint ? <span class="hint"> ({x.hint})</span> : null}
              </li>
            ))}
          </ul>
        </details>
      ))}
      <Pager
        page={page}
        pages={pages}
        total={all.length}
        what="packages with problems"
        href={(n) => `${p.base}?problems=${n}#problems`}
      />
    </>
  );
}

type EvalDetail = EvaluationResponse["evaluation"];

/** What the page (and each live update) shows, from the evaluation and the page's filter and page number. */
interface EvalView {
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

function viewOf(ctx: AppContext, ev: EvalDetail, org: string, filter: Filter, page: number): EvalView {
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
  const times = new Map(
    ids.length
      ? ctx.db
          .select({ id: builds.id, startedAt: builds.startedAt, finishedAt: builds.finishedAt })
          .from(builds)
          .where(inArray(builds.id, ids))
          .all()
          .map((b) => [b.id, b] as const)
      : [],
  );
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
const isLive = (v: EvalView) =>
  !finishedStates.includes(v.ev.state) || v.counts.running + v.counts.queued > 0;

function Comparison({ v }: { v: EvalView }) {
  const cmp = v.ev.comparison;
  const jobs = new Map(v.ev.jobs.map((j) => [j.attr, j]));
  if (!cmp.previous) {
    return (
      <div class="empty">
        {v.ev.state === "succeeded"
          ? "The first evaluation of this jobset: nothing to compare with."
          : `Nothing to compare while the evaluation is ${v.ev.state}.`}
      </div>
    );
  }
  return (
    <div class="cmp">
      <CompareCol label="Newly failed" attrs={cmp.newlyFailed} tone="bad" jobs={jobs} org={v.org} />
      <CompareCol label="Fixed" attrs={cmp.fixed} tone="ok" jobs={jobs} org={v.org} />
      <CompareCol label="New" attrs={cmp.new} jobs={jobs} org={v.org} />
      <CompareCol label="Removed" attrs={cmp.removed} jobs={jobs} org={v.org} />
      <CompareCol label="Still failing" attrs={cmp.stillFailing} jobs={jobs} org={v.org} />
    </div>
  );
}

function Stats({ v }: { v: EvalView }) {
  return (
    <div class="grid">
      <div class="stat">
        <div class="k">Jobs</div>
        <div class="v">{v.ev.counts.jobs}</div>
      </div>
      <div class="stat">
        <div class="k">Succeeded</div>
        <div class="v c ok">{v.counts.succeeded}</div>
      </div>
      <div class="stat">
        <div class="k">Failed</div>
        <div class="v c bad">{v.counts.failed}</div>
      </div>
      <div class="stat">
        <div class="k">Running / queued</div>
        <div class="v">
          {v.counts.running} / {v.counts.queued}
        </div>
      </div>
      <div class="stat">
        <div class="k">Problems</div>
        <div class="v">{v.ev.counts.problems}</div>
      </div>
    </div>
  );
}

function Jobs({ v }: { v: EvalView }) {
  return (
    <>
      <nav class="tabs inner">
        {(["all", "failing", "running", "queued", "succeeded"] as const).map((f) => (
          <a class={f === v.filter ? "on" : ""} href={`${v.base}?state=${f}#jobs`}>
            {f === "all" ? "All" : f[0]?.toUpperCase() + f.slice(1)}
            <span class="n">{v.byFilter[f]}</span>
          </a>
        ))}
      </nav>
      {v.rows.length === 0 ? (
        <div class="empty">No {v.filter === "all" ? "" : `${v.filter} `}jobs.</div>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Job</th>
              <th>Package</th>
              <th>Status</th>
              <th class="num">Duration</th>
              <th class="num">Build</th>
            </tr>
          </thead>
          <tbody>
            {v.rows.map((j) => {
              const t = v.times.get(j.build.id);
              return (
                <tr data-attr={j.attr}>
                  <td>
                    <a href={`/${v.org}/builds/${j.build.id}`}>
                      <strong>{j.attr}</strong>
                    </a>
                  </td>
                  <td class="muted">{j.name}</td>
                  <td>
                    <StatePill state={j.build.state} />
                  </td>
                  <td class="num muted nowrap">{t ? duration(t.startedAt, t.finishedAt, v.now) : "—"}</td>
                  <td class="num">
                    <a href={`/${v.org}/builds/${j.build.id}`}>{j.build.id}</a>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <Pager
        page={v.page}
        pages={v.pages}
        total={v.listed}
        what="jobs"
        href={(n) => `${v.base}?state=${v.filter}&page=${n}#jobs`}
      />
    </>
  );
}

/** The parts a live update replaces, by element id: each is the inner HTML of that element. */
async function fragments(v: EvalView): Promise<Record<string, string>> {
  return {
    "eval-status": String(await (<StatePill state={v.status} />)),
    "eval-compare": String(await (<Comparison v={v} />)),
    "eval-stats": String(await (<Stats v={v} />)),
    "eval-jobs": String(await (<Jobs v={v} />)),
  };
}

/** Changes whenever the evaluation's state or any of its jobs' build states does. Cheap: no comparison. */
function evalVersion(ctx: AppContext, id: number): string {
  const e = findEvaluation(ctx.db, id);
  const jobs = ctx.db
    .select({ id: builds.id, state: jobState })
    .from(evalJobs)
    .innerJoin(builds, eq(builds.id, evalJobs.buildId))
    .where(eq(evalJobs.evaluationId, id))
    .orderBy(asc(evalJobs.id))
    .all();
  return createHash("sha256")
    .update(`${e?.state}|${e?.problemCount}|${jobs.map((j) => `${j.id}:${j.state}`).join(",")}`)
    .digest("hex")
    .slice(0, 16);
}

export interface EvaluationPageOptions {
  /** True once the server shuts down: live streams end then. */
  closing?: () => boolean;
}

/** How often a live evaluation page looks for changes, and how long one stream lasts (the browser reconnects). */
const LIVE_POLL_MS = Number(process.env.FLOX_WEB_POLL_MS) || 1000;
const LIVE_MAX_MS = 10 * 60_000;

export function evaluationPageRoutes(ctx: AppContext, opts: EvaluationPageOptions = {}): Hono<WebEnv> {
  const viewerMw = resolveViewer(ctx);
  const closing = opts.closing ?? (() => false);
  return new Hono<WebEnv>()
    .get("/:org/evaluations/:id", viewerMw, async (c) => {
      const { org, role, viewer, e } = load(ctx, c);
      // Taken before the data: a change in between makes the live stream send it, never miss it.
      const version = wantsJson(c) ? "" : evalVersion(ctx, e.id);
      const data: EvaluationResponse = evaluationDetail(ctx.db, e);
      const filter = Filter.parse(c.req.query("state"));
      const page = Page.parse(c.req.query("page"));
      const problemsPage = Page.parse(c.req.query("problems"));
      const commit = (await commitInfo(ctx.paths.repos, org.name, [e.commitSha])).get(e.commitSha);
      const member = roleAtLeast(role, "member");
      return respond(c, data, ({ evaluation: ev }) => {
        const v = viewOf(ctx, ev, org.name, filter, page);
        const cmp = ev.comparison;
        const unfinished = v.counts.running + v.counts.queued > 0;
        const restartable = v.counts.failed + v.counts.cancelled > 0;
        const live = isLive(v);
        return (
          <Layout
            title={`Evaluation #${ev.id} · ${org.name}/${ev.branch}`}
            viewer={viewer}
            crumbs={[
              { label: "Orgs", href: "/" },
              { label: org.name, href: `/${org.name}` },
              { label: `jobset ${ev.branch}`, href: `/${org.name}/jobsets/${encodeURIComponent(ev.branch)}` },
              { label: `evaluation #${ev.id}` },
            ]}
          >
            <div
              data-live-url={
                live ? `${v.base}/live?state=${v.filter}&page=${v.page}&v=${version}` : undefined
              }
            >
              <PageHead
                title={
                  <>
                    Evaluation #{ev.id}{" "}
                    <span id="eval-status">
                      <StatePill state={v.status} />
                    </span>
                  </>
                }
                sub={
                  <>
                    <code>{shortSha(ev.commitSha)}</code>{" "}
                    <span class="commit-msg">{commit?.subject ?? ""}</span>
                    {commit ? <span class="muted"> · {commit.author}</span> : null} · pushed{" "}
                    <Time at={ev.createdAt} now={v.now} /> · evaluated in{" "}
                    {duration(ev.startedAt, ev.finishedAt, v.now)}
                  </>
                }
                actions={
                  member ? (
                    <>
                      {unfinished ? (
                        <ActionForm viewer={viewer} action={`${v.base}/cancel`}>
                          <button class="btn danger" type="submit">
                            Cancel builds
                          </button>
                        </ActionForm>
                      ) : null}
                      {restartable ? (
                        <ActionForm viewer={viewer} action={`${v.base}/restart`}>
                          <button class="btn" type="submit">
                            Restart failed
                          </button>
                        </ActionForm>
                      ) : null}
                    </>
                  ) : null
                }
              />
              <OrgTabs org={org.name} on="jobsets" />
              {ev.error ? (
                <div class="flash bad">
                  <strong>The commit could not be evaluated:</strong> {ev.error}
                </div>
              ) : null}
              <Card
                flush
                title={
                  cmp.previous ? (
                    <h2>
                      Compared with{" "}
                      <a href={`/${org.name}/evaluations/${cmp.previous}`}>evaluation #{cmp.previous}</a>
                    </h2>
                  ) : (
                    <h2>Compared with the previous evaluation</h2>
                  )
                }
              >
                <div id="eval-compare">
                  <Comparison v={v} />
                </div>
              </Card>
              <div id="eval-stats">
                <Stats v={v} />
              </div>
              <Card
                title={
                  <div class="loghd">
                    <h2>Jobs</h2>
                    <span class="live" id="live-state">
                      {live ? "● live" : ""}
                    </span>
                  </div>
                }
                flush
                id="jobs"
              >
                <div id="eval-jobs">
                  <Jobs v={v} />
                </div>
              </Card>
              {ev.problems.length > 0 ? (
                <Card title={`Evaluation problems (${ev.problems.length})`} flush id="problems">
                  <ProblemGroups problems={ev.problems} page={problemsPage} base={v.base} />
                </Card>
              ) : null}
            </div>
          </Layout>
        );
      });
    })
    .get("/:org/evaluations/:id/live", viewerMw, (c) => {
      // The page's changing parts as escaped HTML fragments (client.ts places them by id), then `done`.
      const { org, viewer, e } = load(ctx, c);
      const filter = Filter.parse(c.req.query("state"));
      const page = Page.parse(c.req.query("page"));
      let seen = c.req.header("last-event-id") ?? c.req.query("v") ?? "";
      const res = streamSSE(c, async (s) => {
        let open = true;
        s.onAbort(() => {
          open = false;
        });
        const until = Date.now() + LIVE_MAX_MS;
        await s.write("retry: 2000\n\n");
        let beat = Date.now();
        while (open && !closing() && Date.now() < until) {
          if (viewer && findTokenById(ctx.db, viewer.token.id)?.revokedAt) return;
          // Taken before the data: a change in between makes the live stream send it, never miss it.
          const version = wantsJson(c) ? "" : evalVersion(ctx, e.id);
          if (version !== seen) {
            seen = version;
            const v = viewOf(
              ctx,
              evaluationDetail(ctx.db, getEvaluation(ctx.db, e.id)).evaluation,
              org.name,
              filter,
              page,
            );
            await s.writeSSE({
              event: "fragments",
              id: version,
              data: JSON.stringify({ version, html: await fragments(v) }),
            });
            beat = Date.now();
          } else if (Date.now() - beat > 15_000) {
            await s.write(": ping\n\n");
            beat = Date.now();
          }
          const current = findEvaluation(ctx.db, e.id);
          const busy = ctx.db
            .select({ id: builds.id })
            .from(evalJobs)
            .innerJoin(builds, eq(builds.id, evalJobs.buildId))
            .where(and(eq(evalJobs.evaluationId, e.id), inArray(jobState, ["queued", "running"])))
            .limit(1)
            .get();
          if (
            current &&
            finishedStates.includes(current.state) &&
            !busy &&
            version === evalVersion(ctx, e.id)
          ) {
            await s.writeSSE({ event: "done", data: current.state });
            return;
          }
          await s.sleep(LIVE_POLL_MS);
        }
      });
      res.headers.set("connection", "close");
      return res;
    })
    .post("/:org/evaluations/:id/cancel", viewerMw, ...requireCsrf(), (c) => {
      const { org, role, e } = load(ctx, c);
      const viewer = requireViewer(c);
      if (!roleAtLeast(role, "member"))
        throw new ForbiddenError(
          `you may not cancel evaluation ${e.id}: that needs the member role in ${org.name}`,
        );
      const changed = cancelEvaluationBuilds(ctx.db, e.id, org.id);
      ctx.logger.info({ evaluation: e.id, changed, by: viewer.token.id, via: "web" }, "evaluation cancelled");
      return c.redirect(`/${org.name}/evaluations/${e.id}`, 303);
    })
    .post("/:org/evaluations/:id/restart", viewerMw, ...requireCsrf(), (c) => {
      const { org, role, e } = load(ctx, c);
      const viewer = requireViewer(c);
      if (!roleAtLeast(role, "member"))
        throw new ForbiddenError(
          `you may not restart evaluation ${e.id}: that needs the member role in ${org.name}`,
        );
      const changed = restartEvaluationBuilds(ctx.db, e.id, org.id);
      ctx.logger.info({ evaluation: e.id, changed, by: viewer.token.id, via: "web" }, "evaluation restarted");
      return c.redirect(`/${org.name}/evaluations/${e.id}`, 303);
    });
}
