// GET /:org/builds/:id — a build: state, timings, builder, paths, dependencies, its log (live over SSE while
// it runs), restart/cancel for members. JSON: {build} exactly as GET /api/v1/builds/:id.
// Also /:org/builds/:id/log (raw text), /:org/builds/:id/events (SSE), POST …/cancel and …/restart.

import { Hono } from "hono";
import { stream, streamSSE } from "hono/streaming";
import { z } from "zod";
import type { BuildDetail, BuildResponse } from "../../../lib/api/builds.js";
import { buildLog } from "../../builds/build-log.js";
import { getBuild, restartBuild, unfinishedStates } from "../../builds/builds.js";
import { presentBuildDetail } from "../../builds/present.js";
import { cancelWant } from "../../builds/wants.js";
import { RECHECK_MS } from "../../db/signals.js";
import { ForbiddenError, NotFoundError } from "../../errors.js";
import type { AppContext } from "../../http/context.js";
import { buildRole, roleAtLeast } from "../../orgs/permissions.js";
import { findTokenById } from "../../orgs/tokens.js";
import { AnsiHtml } from "../ansi.js";
import { Card, StatePill } from "../components.js";
import { requireCsrf } from "../csrf.js";
import { Layout, PageHead } from "../layout.js";
import { respond } from "../negotiate.js";
import {
  readableOrgForViewer,
  requireViewer,
  resolveViewer,
  type Viewer,
  type WebContext,
  type WebEnv,
} from "../viewer.js";
import { logTail } from "./build-log-tail.js";
import { attrOf, BuildActions, BuildFacts, Deps, drvName, LogHtml } from "./build-view.js";

const Id = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);

function buildId(raw: string): number {
  const id = Id.safeParse(raw);
  if (!id.success) throw new NotFoundError(`"${raw}" is not a build number`);
  return id.data;
}

/** The build as this viewer (null: nobody logged in) may see it: jobs of orgs it may not read only counted. */
async function detailFor(
  ctx: AppContext,
  viewer: Viewer | null,
  row: Awaited<ReturnType<typeof getBuild>>,
): Promise<BuildDetail> {
  return presentBuildDetail(ctx.db, row, (await buildRole(ctx.db, viewer?.token, row.id)).readable);
}

/**
 * The build, when it is a job of the page's org (a build shared with other orgs shows under each of them), and
 * whether the viewer may steer it here: cancel and restart act for the page's org (a cancel withdraws that org's
 * want, as in the API), so they need the member role in it.
 */
async function load(ctx: AppContext, c: WebContext) {
  const { org, viewer } = await readableOrgForViewer(ctx, c, c.req.param("org") ?? "");
  const id = buildId(c.req.param("id") ?? "");
  const row = await getBuild(ctx.db, id).catch(() => undefined);
  const standing = row ? await buildRole(ctx.db, viewer?.token, id) : undefined;
  if (!row || !standing?.orgIds.includes(org.id)) {
    throw new NotFoundError(`org "${org.name}" has no build ${id}`);
  }
  const steer = roleAtLeast(standing.roles.get(org.id), "member");
  return { org, viewer, row, steer, detail: await presentBuildDetail(ctx.db, row, standing.readable) };
}

export interface BuildPageOptions {
  /** True once the server shuts down: live streams end then, so they never hold the shutdown up. */
  closing?: () => boolean;
}

/** A live log stream ends after this long; the browser's EventSource reconnects and resumes at its byte offset. */
const STREAM_MAX_MS = 10 * 60_000;

export function buildPageRoutes(ctx: AppContext, opts: BuildPageOptions = {}): Hono<WebEnv> {
  const closing = opts.closing ?? (() => false);
  const viewerMw = resolveViewer(ctx);
  return new Hono<WebEnv>()
    .get("/:org/builds/:id", viewerMw, async (c) => {
      const { org, viewer, row, steer, detail } = await load(ctx, c);
      const data: BuildResponse = { build: detail };
      const live = unfinishedStates.includes(row.state);
      const tail = await logTail(buildLog(ctx, row.id), !live);
      const now = Date.now();
      const attr = attrOf(detail, org.name);
      const job = detail.jobs.find((j) => j.org === org.name);
      return respond(c, data, ({ build: b }) => (
        <Layout
          title={`Build ${b.id}${attr ? ` · ${attr}` : ""}`}
          viewer={viewer}
          crumbs={[
            { label: "Orgs", href: "/" },
            { label: org.name, href: `/${org.name}` },
            ...(job
              ? [
                  { label: job.branch, href: `/${org.name}/jobsets/${encodeURIComponent(job.branch)}` },
                  {
                    label: `evaluation #${job.evaluation}`,
                    href: `/${org.name}/evaluations/${job.evaluation}`,
                  },
                ]
              : []),
            { label: `build ${b.id}` },
          ]}
        >
          <PageHead
            title={
              <>
                {attr ?? drvName(b.drvPath)} <span id="state">{<StatePill state={b.state} />}</span>
              </>
            }
            sub={
              <>
                Build {b.id} · <code>{drvName(b.drvPath)}</code>
              </>
            }
            actions={<BuildActions b={b} org={org.name} viewer={viewer} steer={steer} />}
          />
          <Card title="Details">
            <div id="facts">
              <BuildFacts b={b} org={org.name} now={now} />
            </div>
          </Card>
          {b.dependsOn.length + b.dependents.length > 0 ? (
            <Card title="Dependencies">
              <div class="grid">
                <Deps title="Waits for" list={b.dependsOn} org={org.name} />
                <Deps title="Wanted by builds" list={b.dependents} org={org.name} />
              </div>
            </Card>
          ) : null}
          <Card
            flush
            title={
              <div class="loghd">
                <h2>Log</h2>
                <span class="live" id="live">
                  {live ? "● live" : ""}
                </span>
              </div>
            }
            tools={
              <>
                <button class="btn" type="button" id="jump-error">
                  Jump to first error
                </button>
                <a class="btn" href={`/${org.name}/builds/${b.id}/log`}>
                  Raw log
                </a>
              </>
            }
          >
            {tail.skipped > 0 ? (
              <div class="pager">{Math.round(tail.skipped / 1024)} KiB before this are in the raw log.</div>
            ) : null}
            <pre
              class="log"
              id="log"
              data-events={live ? `/${org.name}/builds/${b.id}/events?offset=${tail.offset}` : undefined}
            >
              {/* Escaped by AnsiHtml (every byte of the log goes through escapeHtml); only its own spans are markup. */}
              <LogHtml html={tail.html} />
            </pre>
            {!live && tail.html === "" ? <div class="empty">No log output.</div> : null}
          </Card>
        </Layout>
      ));
    })
    .get("/:org/builds/:id/log", viewerMw, async (c) => {
      const { row } = await load(ctx, c);
      const log = buildLog(ctx, row.id);
      c.header("content-type", "text/plain; charset=utf-8");
      c.header("cache-control", "no-store");
      c.header("x-content-type-options", "nosniff");
      c.header("content-security-policy", "sandbox; default-src 'none'");
      return stream(c, async (s) => {
        let offset = 0;
        for (;;) {
          const chunk = await log.readFrom(offset);
          if (chunk.length === 0) return;
          await s.write(chunk);
          offset += chunk.length;
        }
      });
    })
    .get("/:org/builds/:id/events", viewerMw, async (c) => {
      const { org, viewer, row, steer } = await load(ctx, c);
      const log = buildLog(ctx, row.id);
      const resume = c.req.header("last-event-id") ?? c.req.query("offset") ?? "0";
      let offset = z.coerce.number().int().min(0).catch(0).parse(resume);
      const res = streamSSE(c, async (s) => {
        let aborted = false;
        const until = Date.now() + STREAM_MAX_MS;
        s.onAbort(() => {
          aborted = true;
        });
        const ansi = new AnsiHtml();
        let pending = Buffer.alloc(0);
        let lastState = "";
        await s.write("retry: 2000\n\n");
        while (!aborted && !closing() && Date.now() < until) {
          // A revoked token (or ended session) stops the page's updates too.
          if (viewer && (await findTokenById(ctx.db, viewer.token.id))?.revokedAt) return;
          const b = await detailFor(ctx, viewer, await getBuild(ctx.db, row.id));
          const finished = !unfinishedStates.includes(b.state);
          const key = `${b.state}|${b.startedAt}|${b.finishedAt}|${b.builder}|${b.attempts}|${b.jobs.map((j) => j.state)}`;
          // Log first: a finished build's last lines go out before the page is told it finished.
          let chunk = await log.readFrom(offset);
          while (chunk.length > 0) {
            offset += chunk.length;
            pending = Buffer.concat([pending, chunk]);
            const nl = pending.lastIndexOf(10);
            if (nl >= 0) {
              const html = ansi.lines(pending.subarray(0, nl + 1).toString("utf8"));
              pending = pending.subarray(nl + 1);
              await s.writeSSE({ event: "log", data: html, id: String(offset - pending.length) });
            }
            chunk = await log.readFrom(offset);
          }
          if (finished && pending.length > 0) {
            await s.writeSSE({
              event: "log",
              data: ansi.lines(pending.toString("utf8")),
              id: String(offset),
            });
            pending = Buffer.alloc(0);
          }
          if (key !== lastState) {
            lastState = key;
            const now = Date.now();
            await s.writeSSE({
              event: "state",
              data: JSON.stringify({
                state: b.state,
                pill: String(await (<StatePill state={b.state} />)),
                facts: String(await (<BuildFacts b={b} org={org.name} now={now} />)),
                actions: String(await (<BuildActions b={b} org={org.name} viewer={viewer} steer={steer} />)),
              }),
            });
          }
          if (finished) {
            await s.writeSSE({ event: "done", data: b.state });
            return;
          }
          await ctx.signals.next(["log", "build"], RECHECK_MS, c.req.raw.signal, row.id);
        }
      });
      // The stream is this connection's only use: closed with it, so a shutdown never waits on a kept-alive socket.
      res.headers.set("connection", "close");
      return res;
    })
    .post("/:org/builds/:id/cancel", viewerMw, ...requireCsrf(), async (c) => {
      const { org, row, steer } = await load(ctx, c);
      const viewer = requireViewer(c);
      if (!steer) throw forbidden(row.id);
      const { state, withdrawn } = await cancelWant(ctx.db, row.id, [org.id]);
      ctx.logger.info(
        { build: row.id, org: org.name, withdrawn, state, by: viewer.token.id, via: "web" },
        "build cancel requested",
      );
      return c.redirect(`/${org.name}/builds/${row.id}`, 303);
    })
    .post("/:org/builds/:id/restart", viewerMw, ...requireCsrf(), async (c) => {
      const { org, row, steer } = await load(ctx, c);
      const viewer = requireViewer(c);
      if (!steer) throw forbidden(row.id);
      await restartBuild(ctx.db, row.id, [org.id]);
      ctx.logger.info({ build: row.id, by: viewer.token.id, via: "web" }, "build restarted");
      return c.redirect(`/${org.name}/builds/${row.id}`, 303);
    });
}

const forbidden = (id: number) =>
  new ForbiddenError(`you may not steer build ${id} here: that needs the member role in this page's org`);
