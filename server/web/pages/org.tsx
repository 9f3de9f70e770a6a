// GET /:org : the org's jobsets with their latest evaluation's counts, and where its channels, profiles and
// machines are. JSON: {org, jobsets} — GET /api/v1/orgs/:org and GET /api/v1/orgs/:org/jobsets in one.
import { Hono } from "hono";
import type { Jobset } from "../../../lib/api/evaluations.js";
import type { Org } from "../../../lib/api/orgs.js";
import { presentJobsets } from "../../evaluations/present.js";
import type { AppContext } from "../../http/context.js";
import { presentOrg } from "../../orgs/present.js";
import { stateCounts, verdict } from "../ci-data.js";
import { commitInfo } from "../commits.js";
import { Card, CopyLine, Counts, CountsLegend, StatePill, shortSha, Time } from "../components.js";
import { DataTable } from "../data-table.js";
import { OrgPage } from "../layout.js";
import { respond } from "../negotiate.js";
import { readableOrgForViewer, resolveViewer, type WebEnv } from "../viewer.js";

export interface OrgPageData {
  org: Org;
  jobsets: Jobset[];
}

/** The evaluation's own state, in words that do not read as its builds' verdict. */
const evalWord: Record<string, string> = {
  succeeded: "evaluated",
  failed: "evaluation failed",
  running: "evaluating",
  queued: "waiting to evaluate",
  skipped: "skipped (skip-ci)",
};

export function orgRoutes(ctx: AppContext): Hono<WebEnv> {
  return new Hono<WebEnv>().get("/:org", resolveViewer(ctx), async (c) => {
    const { org, viewer } = await readableOrgForViewer(ctx, c, c.req.param("org"));
    const origin = new URL(c.req.url).origin;
    const jobsets: Jobset[] = await presentJobsets(ctx.db, org);
    const data: OrgPageData = { org: presentOrg(org, origin), jobsets };
    const latestIds = jobsets.flatMap((j) => (j.latest ? [j.latest.id] : []));
    const counts = await stateCounts(ctx.db, latestIds);
    const commits = await commitInfo(
      ctx.paths.repos,
      org.name,
      jobsets.flatMap((j) => (j.latest ? [j.latest.commitSha] : [])),
    );
    const now = Date.now();
    return respond(c, data, (d) => (
      <OrgPage
        title={d.org.displayName}
        viewer={viewer}
        org={d.org.name}
        tab="jobsets"
        heading={d.org.displayName}
        sub={
          <>
            {d.jobsets.length} jobset{d.jobsets.length === 1 ? "" : "s"} · created{" "}
            <Time at={d.org.createdAt} now={now} />
          </>
        }
      >
        <Card title="Jobsets" flush tools={<CountsLegend />}>
          <DataTable
            columns={[
              "Jobset",
              "Status",
              "Latest evaluation",
              "Commit",
              "Builds",
              { label: "When", num: true },
            ]}
            rows={d.jobsets}
            empty={
              <>
                No jobsets yet: push a branch and it becomes one.
                <p />
                <CopyLine text={`git push ${d.org.repoUrl} main`} />
              </>
            }
            row={(j) => {
              const e = j.latest;
              const cnt = e ? counts.get(e.id) : undefined;
              const commit = e ? commits.get(e.commitSha) : undefined;
              return (
                <tr data-jobset={j.branch}>
                  <td>
                    <a href={`/${d.org.name}/jobsets/${encodeURIComponent(j.branch)}`}>
                      <strong>{j.branch}</strong>
                    </a>
                  </td>
                  <td>
                    {e ? (
                      <StatePill state={verdict(e.state, cnt, e.counts.problems)} />
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                  <td>
                    {e ? (
                      <>
                        <a href={`/${d.org.name}/evaluations/${e.id}`}>#{e.id}</a>{" "}
                        <span class="muted small">{evalWord[e.state] ?? e.state}</span>
                      </>
                    ) : (
                      <span class="muted">none</span>
                    )}
                  </td>
                  <td class="trunc">
                    {e ? (
                      <>
                        <code>{shortSha(e.commitSha)}</code> {commit ? <span>{commit.subject}</span> : null}
                      </>
                    ) : null}
                  </td>
                  <td>
                    <Counts counts={cnt} />
                  </td>
                  <td class="num nowrap">{e ? <Time at={e.createdAt} now={now} /> : null}</td>
                </tr>
              );
            }}
          />
        </Card>
        <div class="grid">
          <a class="stat" href={`/${d.org.name}/channels`}>
            <div class="k">Channels</div>
            <div class="v">Channels →</div>
            <div class="d">One per jobset: what CI published, and how to subscribe.</div>
          </a>
          <a class="stat" href={`/${d.org.name}/profiles`}>
            <div class="k">Profiles</div>
            <div class="v">Profiles →</div>
            <div class="d">Package sets, their generations and schedules.</div>
          </a>
          <a class="stat" href={`/${d.org.name}/machines`}>
            <div class="k">Machines</div>
            <div class="v">Machines →</div>
            <div class="d">Who follows what, and which generation each runs.</div>
          </a>
        </div>
        <Card title="Repository">
          <CopyLine text={`git clone ${d.org.repoUrl}`} />
        </Card>
      </OrgPage>
    ));
  });
}
