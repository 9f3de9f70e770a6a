// GET /-/storehouse (JSON = GET /api/v1/storehouse) and GET /-/builders (JSON = GET /api/v1/builders): the shared
// machinery of the server. Figures are the same for every viewer; a running build is shown only to those who may
// read one of its orgs, and only counted for the others.
import { Hono } from "hono";
import type { AppContext } from "../../http/context.js";
import { listOrgs } from "../../orgs/orgs.js";
import { buildRole, orgsWithRole } from "../../orgs/permissions.js";
import type { StorehouseRouteOptions } from "../../storehouse/cache-routes.js";
import { Card, CopyLine, duration, StatePill, Time } from "../components.js";
import { DataTable } from "../data-table.js";
import { bytes, drvName, plural } from "../fleet-components.js";
import { buildersData, storehouseData } from "../fleet-data.js";
import { Layout, PageHead } from "../layout.js";
import { respond } from "../negotiate.js";
import { requireViewer, resolveViewer, type WebEnv } from "../viewer.js";
import { GcCard } from "./storehouse-gc.js";

export interface InfraPageOptions {
  /** Absent in API-only apps: /-/storehouse is then a 404. */
  storehouse?: StorehouseRouteOptions | undefined;
}

export function infraPages(ctx: AppContext, opts: InfraPageOptions = {}): Hono<WebEnv> {
  const { db } = ctx;
  return new Hono<WebEnv>()
    .get("/-/storehouse", resolveViewer(ctx), async (c) => {
      const viewer = requireViewer(c);
      if (!opts.storehouse) return c.notFound();
      const data = await storehouseData(db, opts.storehouse, new URL(c.req.url).origin, viewer.token);
      const queue = (await buildersData(db, viewer.token)).queue;
      const now = Date.now();
      return respond(c, data, ({ storehouse: s }) => (
        <Layout
          title="Storehouse"
          viewer={viewer}
          crumbs={[{ label: "Orgs", href: "/" }, { label: "Storehouse" }]}
        >
          <PageHead
            title="Storehouse"
            sub="The server's binary cache: every path the builders made, verified and signed with the server's key."
            actions={
              s.private ? (
                <StatePill state="queued" label="reads need a token" />
              ) : (
                <StatePill state="succeeded" label="public reads" />
              )
            }
          />
          <div class="grid">
            <div class="stat">
              <div class="k">Store paths</div>
              <div class="v" id="paths" data-paths={String(s.paths)}>
                {s.paths.toLocaleString("en")}
              </div>
            </div>
            <div class="stat">
              <div class="k">Size (NAR)</div>
              <div class="v" data-bytes={String(s.narBytes)}>
                {bytes(s.narBytes)}
              </div>
            </div>
            <div class="stat">
              <div class="k">On disk</div>
              <div class="v" data-bytes={String(s.fileBytes)}>
                {bytes(s.fileBytes)}
                {s.narBytes > 0 ? (
                  <span class="muted small">
                    {" "}
                    {s.fileBytes === s.narBytes
                      ? "stored uncompressed"
                      : `compressed to ${Math.round((100 * s.fileBytes) / s.narBytes)}%`}
                  </span>
                ) : null}
              </div>
            </div>
            <div class="stat">
              <div class="k">Last upload</div>
              <div class="v small-v">
                <Time at={s.lastUploadAt} now={now} />
              </div>
            </div>
          </div>
          <Card title="Use it from Nix" id="use">
            <p class="muted">
              Add these to <code>/etc/nix/nix.conf</code> (or <code>~/.config/nix/nix.conf</code>) and Nix
              fetches what the builders made instead of building it.
              {s.private ? " Reads need a token: put it in a netrc file as the password for this host." : ""}
            </p>
            <CopyLine text={`extra-substituters = ${s.url}`} />
            <div class="gap" />
            <CopyLine text={`extra-trusted-public-keys = ${s.publicKey}`} />
          </Card>
          {s.gc ? <GcCard gc={s.gc} now={now} /> : null}
          <Card title="Builds" id="queue">
            <div class="kv">
              <span class="k">Waiting in the queue</span>
              <span>
                <strong>{queue.queued}</strong>
              </span>
              <span class="k">Building now</span>
              <span>
                <strong>{queue.running}</strong> · <a href="/-/builders">builders →</a>
              </span>
            </div>
          </Card>
        </Layout>
      ));
    })
    .get("/-/builders", resolveViewer(ctx), async (c) => {
      const viewer = requireViewer(c);
      const data = await buildersData(db, viewer.token);
      // Where each visible running build's page is: under an org of it the viewer may read.
      const orgNames = new Map((await listOrgs(db)).map((o) => [o.id, o.name]));
      const orgOfBuild = new Map<number, string | undefined>();
      for (const b of data.builders) {
        for (const r of b.running) {
          const [id] = orgsWithRole(await buildRole(db, viewer.token, r.build), "reader");
          orgOfBuild.set(r.build, id === undefined ? undefined : orgNames.get(id));
        }
      }
      const now = Date.now();
      return respond(c, data, ({ builders, queue }) => {
        const connected = builders.filter((b) => b.connected);
        const slots = connected.reduce((n, b) => n + b.maxJobs, 0);
        return (
          <Layout
            title="Builders"
            viewer={viewer}
            crumbs={[{ label: "Orgs", href: "/" }, { label: "Builders" }]}
          >
            <PageHead
              title="Builders"
              sub="The machines running flox builder: they claim queued builds, build them with Nix and upload the results to the Storehouse."
            />
            <div class="grid">
              <div class="stat">
                <div class="k">Connected builders</div>
                <div class="v" id="connected">
                  {connected.length} <span class="muted small">of {builders.length}</span>
                </div>
              </div>
              <div class="stat">
                <div class="k">Building now</div>
                <div class="v" id="running" data-running={String(queue.running)}>
                  {queue.running} <span class="muted small">{slots ? `of ${slots} slots` : ""}</span>
                </div>
              </div>
              <div class="stat">
                <div class="k">Queue</div>
                <div class="v" id="queued" data-queued={String(queue.queued)}>
                  {queue.queued} <span class="muted small">waiting</span>
                </div>
              </div>
            </div>
            <Card title="Builders" flush>
              <DataTable
                columns={["Builder", "Systems", "Building", { label: "Last call", num: true }]}
                rows={builders}
                empty={
                  <>
                    No builder has called in yet. Start one with{" "}
                    <code>flox builder --server URL --token BUILDER_TOKEN --store DIR</code>; an admin makes
                    the token with <code>flox token create --builder</code>.
                  </>
                }
                row={(b) => (
                  <tr data-builder={b.name}>
                    <td class="nowrap">
                      <strong>{b.name}</strong>{" "}
                      {b.connected ? (
                        <StatePill state="succeeded" label="connected" />
                      ) : (
                        <StatePill state="cancelled" label="away" />
                      )}
                      <div class="muted small">
                        up to {plural(b.maxJobs, "job")} at once
                        {b.features.length ? ` · ${b.features.join(", ")}` : ""}
                      </div>
                    </td>
                    <td class="mono small">{b.systems.join(", ")}</td>
                    <td>
                      {b.running.length === 0 && b.otherRunning === 0 ? (
                        <span class="muted">idle</span>
                      ) : null}
                      {b.running.map((r) => {
                        const org = orgOfBuild.get(r.build);
                        return (
                          <div class="building" data-build={String(r.build)}>
                            {org ? (
                              <a href={`/${org}/builds/${r.build}`}>#{r.build}</a>
                            ) : (
                              <span>#{r.build}</span>
                            )}{" "}
                            {drvName(r.drvPath)}{" "}
                            <span class="muted">
                              for {duration(r.since, null, now)}
                              {r.attempt > 1 ? ` · attempt ${r.attempt}` : ""}
                            </span>
                          </div>
                        );
                      })}
                      {b.otherRunning > 0 ? (
                        <div class="muted small" data-other={String(b.otherRunning)}>
                          {b.running.length ? "and " : ""}
                          {plural(b.otherRunning, "build")} of other orgs
                        </div>
                      ) : null}
                    </td>
                    <td class="num nowrap">
                      <Time at={b.lastSeen} now={now} />
                    </td>
                  </tr>
                )}
              />
            </Card>
          </Layout>
        );
      });
    });
}
