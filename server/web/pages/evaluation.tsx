// GET /:org/evaluations/:id — the comparison with the previous evaluation at the top, jobs by status (paged, so a
// 2,000-job evaluation is still a small page), evaluation problems per package (collapsed, paged).
// JSON: exactly GET /api/v1/evaluations/:id. POST …/cancel and …/restart for members.
import { inArray } from "drizzle-orm";
import { Hono } from "hono";
import { z } from "zod";
import type { EvalJob, EvalProblem, EvaluationResponse } from "../../../lib/api-schemas.js";
import { cancelEvaluationBuilds, restartEvaluationBuilds } from "../../builds/records.js";
import { builds } from "../../db/schema.js";
import { roleAtLeast } from "../../domain/permissions.js";
import { ForbiddenError, NotFoundError } from "../../errors.js";
import { getEvaluation } from "../../evaluations/records.js";
import type { AppContext } from "../../routes/env.js";
import { evaluationDetail } from "../../routes/evaluations.js";
import { emptyCounts, verdict } from "../ci-data.js";
import { commitInfo } from "../commits.js";
import { ActionForm, Card, duration, StatePill, shortSha, Time, toneOf } from "../components.js";
import { requireCsrf } from "../csrf.js";
import { Layout, OrgTabs, PageHead } from "../layout.js";
import { respond } from "../negotiate.js";
import { orgForViewer, resolveViewer, type WebContext, type WebEnv } from "../viewer.js";

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
  const { org, role, viewer } = orgForViewer(ctx, c, c.req.param("org") ?? "");
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

export function evaluationPageRoutes(ctx: AppContext): Hono<WebEnv> {
  const viewerMw = resolveViewer(ctx);
  return new Hono<WebEnv>()
    .get("/:org/evaluations/:id", viewerMw, async (c) => {
      const { org, role, viewer, e } = load(ctx, c);
      const data: EvaluationResponse = evaluationDetail(ctx.db, e);
      const filter = Filter.parse(c.req.query("state"));
      const page = Page.parse(c.req.query("page"));
      const problemsPage = Page.parse(c.req.query("problems"));
      const commit = (await commitInfo(ctx.paths.repos, org.name, [e.commitSha])).get(e.commitSha);
      const member = roleAtLeast(role, "member");
      const now = Date.now();
      const base = `/${org.name}/evaluations/${e.id}`;
      return respond(c, data, ({ evaluation: ev }) => {
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
        const times = new Map(
          rows.length
            ? ctx.db
                .select({ id: builds.id, startedAt: builds.startedAt, finishedAt: builds.finishedAt })
                .from(builds)
                .where(
                  inArray(
                    builds.id,
                    rows.map((r) => r.build.id),
                  ),
                )
                .all()
                .map((b) => [b.id, b] as const)
            : [],
        );
        const jobsByAttr = new Map(ev.jobs.map((j) => [j.attr, j]));
        const cmp = ev.comparison;
        const status = verdict(ev.state, counts, ev.counts.problems);
        const unfinished = counts.running + counts.queued > 0;
        const restartable = counts.failed + counts.cancelled > 0;
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
            <PageHead
              title={
                <>
                  Evaluation #{ev.id} <StatePill state={status} />
                </>
              }
              sub={
                <>
                  <code>{shortSha(ev.commitSha)}</code>{" "}
                  <span class="commit-msg">{commit?.subject ?? ""}</span>
                  {commit ? <span class="muted"> · {commit.author}</span> : null} · pushed{" "}
                  <Time at={ev.createdAt} now={now} /> · evaluated in{" "}
                  {duration(ev.startedAt, ev.finishedAt, now)}
                </>
              }
              actions={
                member ? (
                  <>
                    {unfinished ? (
                      <ActionForm viewer={viewer} action={`${base}/cancel`}>
                        <button class="btn danger" type="submit">
                          Cancel builds
                        </button>
                      </ActionForm>
                    ) : null}
                    {restartable ? (
                      <ActionForm viewer={viewer} action={`${base}/restart`}>
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
              {cmp.previous ? (
                <div class="cmp">
                  <CompareCol
                    label="Newly failed"
                    attrs={cmp.newlyFailed}
                    tone="bad"
                    jobs={jobsByAttr}
                    org={org.name}
                  />
                  <CompareCol label="Fixed" attrs={cmp.fixed} tone="ok" jobs={jobsByAttr} org={org.name} />
                  <CompareCol label="New" attrs={cmp.new} jobs={jobsByAttr} org={org.name} />
                  <CompareCol label="Removed" attrs={cmp.removed} jobs={jobsByAttr} org={org.name} />
                  <CompareCol
                    label="Still failing"
                    attrs={cmp.stillFailing}
                    jobs={jobsByAttr}
                    org={org.name}
                  />
                </div>
              ) : (
                <div class="empty">
                  {ev.state === "succeeded"
                    ? "The first evaluation of this jobset: nothing to compare with."
                    : `Nothing to compare while the evaluation is ${ev.state}.`}
                </div>
              )}
            </Card>
            <div class="grid">
              <div class="stat">
                <div class="k">Jobs</div>
                <div class="v">{ev.counts.jobs}</div>
              </div>
              <div class="stat">
                <div class="k">Succeeded</div>
                <div class="v c ok">{counts.succeeded}</div>
              </div>
              <div class="stat">
                <div class="k">Failed</div>
                <div class="v c bad">{counts.failed}</div>
              </div>
              <div class="stat">
                <div class="k">Running / queued</div>
                <div class="v">
                  {counts.running} / {counts.queued}
                </div>
              </div>
              <div class="stat">
                <div class="k">Problems</div>
                <div class="v">{ev.counts.problems}</div>
              </div>
            </div>
            <Card title="Jobs" flush id="jobs">
              <nav class="tabs inner">
                {(["all", "failing", "running", "queued", "succeeded"] as const).map((f) => (
                  <a class={f === filter ? "on" : ""} href={`${base}?state=${f}#jobs`}>
                    {f === "all" ? "All" : f[0]?.toUpperCase() + f.slice(1)}
                    <span class="n">{byFilter[f]}</span>
                  </a>
                ))}
              </nav>
              {rows.length === 0 ? (
                <div class="empty">No {filter === "all" ? "" : `${filter} `}jobs.</div>
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
                    {rows.map((j) => {
                      const t = times.get(j.build.id);
                      return (
                        <tr data-attr={j.attr}>
                          <td>
                            <a href={`/${org.name}/builds/${j.build.id}`}>
                              <strong>{j.attr}</strong>
                            </a>
                          </td>
                          <td class="muted">{j.name}</td>
                          <td>
                            <StatePill state={j.build.state} />
                          </td>
                          <td class="num muted nowrap">
                            {t ? duration(t.startedAt, t.finishedAt, now) : "—"}
                          </td>
                          <td class="num">
                            <a href={`/${org.name}/builds/${j.build.id}`}>{j.build.id}</a>
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              )}
              <Pager
                page={at}
                pages={pages}
                total={listed.length}
                what="jobs"
                href={(n) => `${base}?state=${filter}&page=${n}#jobs`}
              />
            </Card>
            {ev.problems.length > 0 ? (
              <Card title={`Evaluation problems (${ev.problems.length})`} flush id="problems">
                <ProblemGroups problems={ev.problems} page={problemsPage} base={base} />
              </Card>
            ) : null}
          </Layout>
        );
      });
    })
    .post("/:org/evaluations/:id/cancel", viewerMw, ...requireCsrf(), (c) => {
      const { org, role, viewer, e } = load(ctx, c);
      if (!roleAtLeast(role, "member"))
        throw new ForbiddenError(
          `you may not cancel evaluation ${e.id}: that needs the member role in ${org.name}`,
        );
      const changed = cancelEvaluationBuilds(ctx.db, e.id);
      ctx.logger.info({ evaluation: e.id, changed, by: viewer.token.id, via: "web" }, "evaluation cancelled");
      return c.redirect(`/${org.name}/evaluations/${e.id}`, 303);
    })
    .post("/:org/evaluations/:id/restart", viewerMw, ...requireCsrf(), (c) => {
      const { org, role, viewer, e } = load(ctx, c);
      if (!roleAtLeast(role, "member"))
        throw new ForbiddenError(
          `you may not restart evaluation ${e.id}: that needs the member role in ${org.name}`,
        );
      const changed = restartEvaluationBuilds(ctx.db, e.id);
      ctx.logger.info({ evaluation: e.id, changed, by: viewer.token.id, via: "web" }, "evaluation restarted");
      return c.redirect(`/${org.name}/evaluations/${e.id}`, 303);
    });
}
