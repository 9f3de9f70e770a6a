// GET /:org/evaluations/:id — the comparison with the previous evaluation at the top, jobs by status (paged, so a
// 2,000-job evaluation is still a small page), evaluation problems per package (collapsed, paged).
// JSON: exactly GET /api/v1/evaluations/:id. POST …/cancel and …/restart for members.

import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { EvaluationResponse } from "../../../lib/api/evaluations.js";
import { cancelEvaluationBuilds, restartEvaluationBuilds } from "../../builds/builds.js";
import { DEFAULT_LIVE } from "../../config.js";
import { ForbiddenError, NotFoundError } from "../../errors.js";
import {
  evaluationProgress,
  findEvaluation,
  finishedStates,
  getEvaluation,
  hasUnfinishedJobs,
} from "../../evaluations/data.js";
import { evaluationDetail } from "../../evaluations/present.js";
import type { AppContext } from "../../http/context.js";
import { roleAtLeast } from "../../orgs/permissions.js";
import { findTokenById } from "../../orgs/tokens.js";
import { commitInfo } from "../commits.js";
import { ActionForm, Card, duration, StatePill, shortSha, Time } from "../components.js";
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
import { Comparison, fragments, Jobs, ProblemGroups, Stats } from "./evaluation-parts.js";
import { Filter, isLive, Page, viewOf } from "./evaluation-view.js";

const Id = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);

async function load(ctx: AppContext, c: WebContext) {
  const { org, role, viewer } = await readableOrgForViewer(ctx, c, c.req.param("org") ?? "");
  const id = Id.safeParse(c.req.param("id"));
  const e = id.success ? await findEvaluation(ctx.db, id.data) : undefined;
  if (!e || e.org !== org.name)
    throw new NotFoundError(`org "${org.name}" has no evaluation ${c.req.param("id")}`);
  return { org, role, viewer, e };
}

export interface EvaluationPageOptions {
  /** True once the server shuts down: live streams end then. */
  closing?: () => boolean;
}

/** How long one live stream lasts (the browser reconnects). */
const LIVE_MAX_MS = 10 * 60_000;

export function evaluationPageRoutes(ctx: AppContext, opts: EvaluationPageOptions = {}): Hono<WebEnv> {
  const viewerMw = resolveViewer(ctx);
  const closing = opts.closing ?? (() => false);
  /** How often a live evaluation page looks for changes. */
  const LIVE_POLL_MS = (ctx.live ?? DEFAULT_LIVE).webPollMs;
  return new Hono<WebEnv>()
    .get("/:org/evaluations/:id", viewerMw, async (c) => {
      const { org, role, viewer, e } = await load(ctx, c);
      // Taken before the data: a change in between makes the live stream send it, never miss it.
      const version = wantsJson(c) ? "" : (await evaluationProgress(ctx.db, e.id)).version;
      const data: EvaluationResponse = await evaluationDetail(ctx.db, e);
      const filter = Filter.parse(c.req.query("state"));
      const page = Page.parse(c.req.query("page"));
      const problemsPage = Page.parse(c.req.query("problems"));
      const commit = (await commitInfo(ctx.paths.repos, org.name, [e.commitSha])).get(e.commitSha);
      const member = roleAtLeast(role, "member");
      return respond(c, data, async ({ evaluation: ev }) => {
        const v = await viewOf(ctx.db, ev, org.name, filter, page);
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
    .get("/:org/evaluations/:id/live", viewerMw, async (c) => {
      // The page's changing parts as escaped HTML fragments (client.ts places them by id), then `done`.
      const { org, viewer, e } = await load(ctx, c);
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
          if (viewer && (await findTokenById(ctx.db, viewer.token.id))?.revokedAt) return;
          // Taken before the data: a change in between makes the live stream send it, never miss it.
          const version = wantsJson(c) ? "" : (await evaluationProgress(ctx.db, e.id)).version;
          if (version !== seen) {
            seen = version;
            const v = await viewOf(
              ctx.db,
              (await evaluationDetail(ctx.db, await getEvaluation(ctx.db, e.id))).evaluation,
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
          const current = await findEvaluation(ctx.db, e.id);
          const busy = await hasUnfinishedJobs(ctx.db, e.id);
          if (
            current &&
            finishedStates.includes(current.state) &&
            !busy &&
            version === (await evaluationProgress(ctx.db, e.id)).version
          ) {
            await s.writeSSE({ event: "done", data: current.state });
            return;
          }
          await ctx.signals.next(["build", "evaluation"], LIVE_POLL_MS, c.req.raw.signal);
        }
      });
      res.headers.set("connection", "close");
      return res;
    })
    .post("/:org/evaluations/:id/cancel", viewerMw, ...requireCsrf(), async (c) => {
      const { org, role, e } = await load(ctx, c);
      const viewer = requireViewer(c);
      if (!roleAtLeast(role, "member"))
        throw new ForbiddenError(
          `you may not cancel evaluation ${e.id}: that needs the member role in ${org.name}`,
        );
      const changed = await cancelEvaluationBuilds(ctx.db, e.id, org.id);
      ctx.logger.info({ evaluation: e.id, changed, by: viewer.token.id, via: "web" }, "evaluation cancelled");
      return c.redirect(`/${org.name}/evaluations/${e.id}`, 303);
    })
    .post("/:org/evaluations/:id/restart", viewerMw, ...requireCsrf(), async (c) => {
      const { org, role, e } = await load(ctx, c);
      const viewer = requireViewer(c);
      if (!roleAtLeast(role, "member"))
        throw new ForbiddenError(
          `you may not restart evaluation ${e.id}: that needs the member role in ${org.name}`,
        );
      const changed = await restartEvaluationBuilds(ctx.db, e.id, org.id);
      ctx.logger.info({ evaluation: e.id, changed, by: viewer.token.id, via: "web" }, "evaluation restarted");
      return c.redirect(`/${org.name}/evaluations/${e.id}`, 303);
    });
}
