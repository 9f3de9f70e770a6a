// GET /:org/jobsets/:branch — evaluation history (commit, author, message, time, counts), a status graph over
// time, badge URLs. JSON: {jobset, evaluations}: the jobset as in GET /api/v1/orgs/:org/jobsets and the list of
// GET /api/v1/orgs/:org/jobsets/:branch/evaluations. Badges: …/badge.svg and …/jobs/:attr/badge.svg.
import { Hono } from "hono";
import type { Evaluation, Jobset } from "../../../lib/api/evaluations.js";
import { getJobset, jobBadgeStatus, listEvaluations } from "../../evaluations/data.js";
import { presentEvaluation } from "../../evaluations/present.js";
import type { AppContext } from "../../http/context.js";
import type { OrgRecord } from "../../orgs/orgs.js";
import { stateCounts, verdict } from "../ci-data.js";
import { type CommitInfo, commitInfo } from "../commits.js";
import {
  Card,
  CopyLine,
  Counts,
  duration,
  type StateCounts,
  StatePill,
  shortSha,
  Time,
} from "../components.js";
import { Layout, OrgTabs, PageHead } from "../layout.js";
import { respond } from "../negotiate.js";
import { readableOrgForViewer, resolveViewer, type WebEnv } from "../viewer.js";
import { badgeSvg } from "./badge.js";

export interface JobsetPageData {
  jobset: Jobset;
  evaluations: Evaluation[];
}

/** How many evaluations the graph shows (the newest). */
const GRAPH_EVALS = 60;

function StatusGraph(p: { org: string; evals: Evaluation[]; counts: Map<number, StateCounts> }) {
  const evals = p.evals.slice(0, GRAPH_EVALS).reverse();
  if (evals.length === 0) return null;
  const W = 1100;
  const H = 120;
  const top = 18;
  const bottom = 18;
  const slot = W / Math.max(evals.length, 20);
  const bar = Math.max(3, Math.min(26, slot * 0.7));
  const max = Math.max(1, ...evals.map((e) => e.counts.jobs));
  const scale = (H - top - bottom) / max;
  return (
    <svg class="graph" viewBox={`0 0 ${W} ${H}`} role="img" aria-label="builds per evaluation, oldest left">
      <line x1="0" x2={W} y1={H - bottom + 0.5} y2={H - bottom + 0.5} />
      <text x="0" y="10">
        {max} jobs
      </text>
      {evals.map((e, i) => {
        const c = p.counts.get(e.id);
        const x = i * slot + (slot - bar) / 2;
        let y = H - bottom;
        const segs: { tone: string; n: number }[] = c
          ? [
              { tone: "ok", n: c.succeeded },
              { tone: "bad", n: c.failed },
              { tone: "run", n: c.running },
              { tone: "wait", n: c.queued },
              { tone: "none", n: c.cancelled },
            ]
          : [];
        const failedEval = e.state === "failed" || (e.counts.jobs === 0 && e.counts.problems > 0);
        const title = `#${e.id} ${e.state}: ${c?.succeeded ?? 0} ok, ${c?.failed ?? 0} failed, ${c?.running ?? 0} running, ${c?.queued ?? 0} queued`;
        return (
          <a href={`/${p.org}/evaluations/${e.id}`}>
            <title>{title}</title>
            {failedEval ? (
              <rect class="bad" x={x} y={H - bottom - 10} width={bar} height={10} rx="1" />
            ) : e.counts.jobs === 0 ? (
              <rect class="none" x={x} y={H - bottom - 3} width={bar} height={3} rx="1" />
            ) : (
              segs
                .filter((s) => s.n > 0)
                .map((s) => {
                  const h = Math.max(1, s.n * scale);
                  y -= h;
                  return <rect class={s.tone} x={x} y={y} width={bar} height={h} />;
                })
            )}
            {i % Math.ceil(evals.length / 12) === 0 ? (
              <text x={x} y={H - 4}>
                #{e.id}
              </text>
            ) : null}
          </a>
        );
      })}
    </svg>
  );
}

function HistoryRow(p: {
  org: string;
  e: Evaluation;
  c: StateCounts | undefined;
  commit?: CommitInfo;
  now: number;
}) {
  const { e, c, commit } = p;
  return (
    <tr data-evaluation={e.id}>
      <td>
        <a href={`/${p.org}/evaluations/${e.id}`}>
          <strong>#{e.id}</strong>
        </a>
      </td>
      <td>
        <StatePill state={verdict(e.state, c, e.counts.problems)} />
      </td>
      <td class="trunc">
        <code>{shortSha(e.commitSha)}</code> <span class="commit-msg">{commit?.subject ?? ""}</span>
      </td>
      <td class="nowrap">{commit?.author ?? <span class="muted">—</span>}</td>
      <td>
        <Counts counts={c} />
        {e.counts.problems ? <span class="muted small"> · {e.counts.problems} problems</span> : null}
      </td>
      <td class="num nowrap muted">{duration(e.startedAt, e.finishedAt, p.now)}</td>
      <td class="num nowrap">
        <Time at={e.createdAt} now={p.now} />
      </td>
    </tr>
  );
}

export function jobsetPageRoutes(ctx: AppContext): Hono<WebEnv> {
  const viewerMw = resolveViewer(ctx);
  const jobsetOf = (org: OrgRecord, branch: string) => getJobset(ctx.db, org, branch);
  return new Hono<WebEnv>()
    .get("/:org/jobsets/:branch", viewerMw, async (c) => {
      const { org, viewer } = await readableOrgForViewer(ctx, c, c.req.param("org"));
      const js = await jobsetOf(org, c.req.param("branch"));
      const evals = (await listEvaluations(ctx.db, [js.id])).map(presentEvaluation);
      const data: JobsetPageData = {
        jobset: { org: org.name, branch: js.branch, createdAt: js.createdAt, latest: evals[0] ?? null },
        evaluations: evals,
      };
      const counts = await stateCounts(
        ctx.db,
        evals.map((e) => e.id),
      );
      const commits = await commitInfo(
        ctx.paths.repos,
        org.name,
        evals.map((e) => e.commitSha),
      );
      const origin = new URL(c.req.url).origin;
      const base = `/${org.name}/jobsets/${encodeURIComponent(js.branch)}`;
      const channel = js.branch === "main" ? org.name : `${org.name}/${js.branch}`;
      const now = Date.now();
      return respond(c, data, (d) => (
        <Layout
          title={`${org.name}/${d.jobset.branch}`}
          viewer={viewer}
          crumbs={[
            { label: "Orgs", href: "/" },
            { label: org.name, href: `/${org.name}` },
            { label: `jobset ${d.jobset.branch}` },
          ]}
        >
          <PageHead
            title={
              <>
                {d.jobset.branch} <img src={`${base}/badge.svg`} alt="status" class="badge" />
              </>
            }
            sub={
              <>
                Jobset of <a href={`/${org.name}`}>{org.name}</a> · publishes channel{" "}
                <a href={`/${org.name}/channels`}>{channel}</a> · {d.evaluations.length} evaluation
                {d.evaluations.length === 1 ? "" : "s"}
              </>
            }
          />
          <OrgTabs org={org.name} on="jobsets" />
          <Card
            title="Builds per evaluation"
            tools={
              <div class="legend">
                <span class="ok">succeeded</span>
                <span class="bad">failed</span>
                <span class="run">running</span>
                <span class="wait">queued</span>
              </div>
            }
          >
            {d.evaluations.length ? (
              <StatusGraph org={org.name} evals={d.evaluations} counts={counts} />
            ) : (
              <div class="empty">No evaluations yet.</div>
            )}
          </Card>
          <Card title="Evaluations" flush>
            {d.evaluations.length === 0 ? (
              <div class="empty">Push to {d.jobset.branch} and its evaluation shows here.</div>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th>#</th>
                    <th>Status</th>
                    <th>Commit</th>
                    <th>Author</th>
                    <th>Builds</th>
                    <th class="num">Eval</th>
                    <th class="num">When</th>
                  </tr>
                </thead>
                <tbody>
                  {d.evaluations.map((e) => (
                    <HistoryRow
                      org={org.name}
                      e={e}
                      c={counts.get(e.id)}
                      commit={commits.get(e.commitSha)}
                      now={now}
                    />
                  ))}
                </tbody>
              </table>
            )}
          </Card>
          <Card title="Badges">
            <p class="muted small">Jobset status, and one per job (replace ATTR with the package name):</p>
            <CopyLine text={`${origin}${base}/badge.svg`} />
            <p />
            <CopyLine text={`${origin}${base}/jobs/ATTR/badge.svg`} />
          </Card>
        </Layout>
      ));
    })
    .get("/:org/jobsets/:branch/badge.svg", viewerMw, async (c) => {
      const { org } = await readableOrgForViewer(ctx, c, c.req.param("org"));
      const js = await jobsetOf(org, c.req.param("branch"));
      // The newest evaluation that says something (skipped ones do not).
      const e = (await listEvaluations(ctx.db, [js.id], 20)).find((x) => x.state !== "skipped");
      const status = e
        ? verdict(e.state, (await stateCounts(ctx.db, [e.id])).get(e.id), e.problemCount)
        : "unknown";
      return svg(c, badgeSvg(js.branch, status));
    })
    .get("/:org/jobsets/:branch/jobs/:attr/badge.svg", viewerMw, async (c) => {
      const { org } = await readableOrgForViewer(ctx, c, c.req.param("org"));
      const js = await jobsetOf(org, c.req.param("branch"));
      const attr = c.req.param("attr");
      return svg(c, badgeSvg(attr, await jobBadgeStatus(ctx.db, js.id, attr)));
    });
}

const svg = (c: import("hono").Context, body: string) =>
  c.body(body, 200, {
    "content-type": "image/svg+xml; charset=utf-8",
    "cache-control": "no-cache",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
  });
