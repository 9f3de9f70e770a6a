// GET /:org/profiles (JSON = GET /api/v1/profiles?org=ORG), GET /:org/profiles/:name (JSON = the profile, its
// generations and events, schedule and rollout status from the four /api/v1/profiles/ORG/NAME routes), and
// POST /:org/profiles/:name/rollback (members; CSRF-checked), the one-click rollback.
import { Hono } from "hono";
import type { FC } from "hono/jsx";
import { z } from "zod";
import { Name, type ProfileEditResponse, type ProfileEvent } from "../../../lib/api-schemas.js";
import { getOrg } from "../../domain/orgs.js";
import { requireRole, roleAtLeast } from "../../domain/permissions.js";
import { actorOf } from "../../domain/tokens.js";
import { InvalidInputError } from "../../errors.js";
import type { MachineHub } from "../../machines/hub.js";
import { profileStatus } from "../../machines/machines.js";
import { presentGeneration, presentProfile } from "../../profiles/present.js";
import {
  getProfile,
  listEvents,
  listGenerations,
  listProfiles,
  type ProfileEditor,
} from "../../profiles/profiles.js";
import type { Schedule } from "../../profiles/schedules.js";
import type { AppContext } from "../../routes/env.js";
import { param } from "../../routes/validate.js";
import { Card, CsrfField, StatePill, Time } from "../components.js";
import { requireCsrf } from "../csrf.js";
import {
  ChangeChips,
  newestFirst,
  OlderRows,
  plural,
  RolloutBar,
  shortStorePath,
  storeName,
} from "../fleet-components.js";
import { orgProfilesData, type ProfilePageData, profileData } from "../fleet-data.js";
import { Layout, OrgTabs, PageHead } from "../layout.js";
import { respond, wantsJson } from "../negotiate.js";
import { orgForViewer, resolveViewer, type Viewer, type WebEnv } from "../viewer.js";

export interface ProfilePageOptions {
  /** Makes the rollback; absent in API-only apps (the button then fails with a 500). */
  profiles?: ProfileEditor | undefined;
  /** Whose event streams are open (the rollout's "connected"). */
  machines?: MachineHub | undefined;
}

export const profileHref = (org: string, name: string) => `/${org}/profiles/${name}`;

const Generation_ = z.coerce.number().int().positive().max(1_000_000_000);

function scheduleText(s: Schedule): string {
  const jitter = s.jitterSeconds ? `, machines spread over ${s.jitterSeconds} s` : "";
  if (s.kind === "off") return "off: upgraded by hand only";
  if (s.kind === "cron") return `cron ${s.cron ?? "?"}${jitter}`;
  return `on publish: upgrades when a followed channel moves${jitter}`;
}

const Why: FC<{ e: ProfileEvent | null }> = ({ e }) => {
  if (!e) return <span class="muted">—</span>;
  return (
    <div class="why">
      <div>
        <strong>{e.author}</strong>
        {e.host ? <span class="muted"> on {e.host}</span> : null}
      </div>
      {e.reason ? <div class="reason">“{e.reason}”</div> : null}
      {e.command ? <div class="mono small muted trunc cmd">{e.command}</div> : null}
    </div>
  );
};

/** The rollback form: to `to`, carrying the session's CSRF token. */
const RollbackButton = (p: { viewer: Viewer; href: string; to: number; primary?: boolean }) => (
  <form method="post" action={`${p.href}/rollback`} class="rollback" data-to={String(p.to)}>
    <CsrfField viewer={p.viewer} />
    <input type="hidden" name="to" value={String(p.to)} />
    <button class={p.primary ? "btn danger" : "btn"} type="submit">
      {p.primary ? `Roll back to generation ${p.to}` : "Make live"}
    </button>
  </form>
);

function eventText(e: ProfileEvent): string {
  switch (e.action) {
    case "create":
      return "created the profile";
    case "rollback":
      return `rolled back from generation ${e.from ?? "—"} to ${e.to ?? "—"}`;
    default:
      return `${e.action}: generation ${e.to ?? "—"}`;
  }
}

export function profilePages(ctx: AppContext, opts: ProfilePageOptions = {}): Hono<WebEnv> {
  const { db } = ctx;
  const connected = (id: number) => opts.machines?.connected(id) ?? false;
  return new Hono<WebEnv>()
    .get("/:org/profiles", resolveViewer(ctx), (c) => {
      const { org, viewer } = orgForViewer(ctx, c, c.req.param("org"));
      const data = orgProfilesData(db, org);
      // How far each live generation has rolled out (the page shows it; the JSON twin is the API's list).
      const rollout = new Map(
        listProfiles(db, [org.id]).map((p) => [p.name, profileStatus(db, org.name, p, connected).summary]),
      );
      const now = Date.now();
      return respond(c, data, ({ profiles }) => (
        <Layout
          title={`Profiles · ${org.name}`}
          viewer={viewer}
          crumbs={[
            { label: "Orgs", href: "/" },
            { label: org.name, href: `/${org.name}` },
            { label: "Profiles" },
          ]}
        >
          <PageHead
            title="Profiles"
            sub={`Named package sets machines follow; every change is a numbered generation. ${plural(profiles.length, "profile")}.`}
          />
          <OrgTabs org={org.name} on="profiles" />
          <Card flush>
            {profiles.length === 0 ? (
              <div class="empty">
                No profiles yet. A member makes one with <code>flox profile create {org.name}/NAME</code>.
              </div>
            ) : (
              <table>
                <thead>
                  <tr>
                    <th>Profile</th>
                    <th>Live generation</th>
                    <th>Packages</th>
                    <th>Machines on it</th>
                    <th>User environment</th>
                    <th class="num">Created</th>
                  </tr>
                </thead>
                <tbody>
                  {profiles.map((p) => (
                    <tr data-profile={p.name}>
                      <td>
                        <a href={profileHref(org.name, p.name)}>
                          <strong>{p.name}</strong>
                        </a>
                      </td>
                      <td>
                        {p.current === null ? (
                          <span class="muted">none yet</span>
                        ) : (
                          <strong>#{p.current}</strong>
                        )}
                      </td>
                      <td class="trunc w-list">
                        {p.entries.length === 0 ? (
                          <span class="muted">empty</span>
                        ) : (
                          p.entries.map((e) => e.label).join(", ")
                        )}
                      </td>
                      <td class="nowrap">
                        {(() => {
                          const st = rollout.get(p.name);
                          if (!st || st.machines === 0) return <span class="muted">none follow it</span>;
                          return (
                            <span>
                              <strong>{st.onLive}</strong> / {st.machines}
                              {st.failed ? <span class="muted small"> · {st.failed} failed</span> : null}
                            </span>
                          );
                        })()}
                      </td>
                      <td class="mono small muted trunc w-path" title={p.storePath ?? ""}>
                        {shortStorePath(p.storePath)}
                      </td>
                      <td class="num nowrap">
                        <Time at={p.createdAt} now={now} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Card>
        </Layout>
      ));
    })
    .get("/:org/profiles/:name", resolveViewer(ctx), (c) => {
      const { org, viewer, role } = orgForViewer(ctx, c, c.req.param("org"));
      const name = param(c, "name", Name);
      const data = profileData(db, org, name, connected);
      const canRollback = roleAtLeast(role, "member");
      const rolled = Generation_.safeParse(c.req.query("rolledBack"));
      const now = Date.now();
      return respond(c, data, (d: ProfilePageData) => {
        const href = profileHref(org.name, d.profile.name);
        const live = d.profile.current;
        const previous = [...d.generations].reverse().find((g) => live !== null && g.number < live);
        const st = d.status.summary;
        return (
          <Layout
            title={`${org.name}/${d.profile.name} · profile`}
            viewer={viewer}
            crumbs={[
              { label: "Orgs", href: "/" },
              { label: org.name, href: `/${org.name}` },
              { label: "Profiles", href: `/${org.name}/profiles` },
              { label: d.profile.name },
            ]}
          >
            <PageHead
              title={
                <>
                  Profile <span class="hname">{`${org.name}/${d.profile.name}`}</span>
                </>
              }
              sub={
                <>
                  {live === null ? "no generation yet" : `generation ${live} is live`} ·{" "}
                  {plural(d.profile.entries.length, "package")} · {plural(d.generations.length, "generation")}
                </>
              }
              actions={
                canRollback && previous ? (
                  <RollbackButton viewer={viewer} href={href} to={previous.number} primary />
                ) : null
              }
            />
            <OrgTabs org={org.name} on="profiles" />
            {rolled.success && rolled.data === live ? (
              <div class="flash" id="flash">
                Generation {rolled.data} is live again. Machines that follow {org.name}/{d.profile.name}{" "}
                switch to it now.
              </div>
            ) : null}
            <div class="grid">
              <div class="stat">
                <div class="k">Live generation</div>
                <div class="v" id="live-generation" data-live={live === null ? "" : String(live)}>
                  {live === null ? "—" : `#${live}`}
                </div>
              </div>
              <div class="stat">
                <div class="k">Machines on it</div>
                <div class="v">
                  {st.onLive} / {st.machines}
                  {st.failed ? <span class="pill bad">{st.failed} failed</span> : null}
                </div>
              </div>
              <div class="stat">
                <div class="k">Schedule</div>
                <div class="v small-v">{scheduleText(d.schedule)}</div>
                {d.schedule.nextRunAt ? (
                  <div class="muted small">
                    next <Time at={d.schedule.nextRunAt} now={now} /> (
                    {d.schedule.nextRunAt.slice(0, 16).replace("T", " ")} UTC)
                  </div>
                ) : d.schedule.lastRunAt ? (
                  <div class="muted small">
                    last run <Time at={d.schedule.lastRunAt} now={now} />
                  </div>
                ) : null}
              </div>
            </div>
            <Card title="Rollout" id="rollout">
              <RolloutBar counts={d.status.counts} live={live} />
              {d.status.machines.length > 0 ? (
                <table class="machines">
                  <thead>
                    <tr>
                      <th>Machine</th>
                      <th>Running</th>
                      <th>Last report</th>
                      <th class="num">Seen</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.status.machines.map((m) => (
                      <tr data-machine={m.machine}>
                        <td>
                          <strong>{m.machine}</strong>{" "}
                          {m.connected ? (
                            <StatePill state="succeeded" label="online" />
                          ) : (
                            <StatePill state="cancelled" label="offline" />
                          )}
                        </td>
                        <td>
                          {m.running === null ? <span class="muted">nothing yet</span> : `#${m.running}`}
                          {m.lagging && live !== null ? (
                            <span class="muted small"> (behind #{live})</span>
                          ) : null}
                        </td>
                        <td>
                          {m.status === null ? (
                            <span class="muted">—</span>
                          ) : m.status === "failed" ? (
                            <>
                              <StatePill state="failed" label={`#${m.generation} failed`} />{" "}
                              <span class="small">{m.message}</span>
                            </>
                          ) : (
                            <StatePill state="succeeded" label={`#${m.generation} ok`} />
                          )}
                        </td>
                        <td class="num nowrap">
                          <Time at={m.reportedAt ?? m.lastSeen} now={now} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              ) : null}
            </Card>
            <Card
              title="Generations"
              id="generations"
              flush
              tools={<span class="muted small">newest first</span>}
            >
              {d.generations.length === 0 ? (
                <div class="empty">
                  No generation yet:{" "}
                  <code>
                    flox profile install {org.name}/{d.profile.name} {org.name}#PACKAGE
                  </code>{" "}
                  makes the first.
                </div>
              ) : (
                <>
                  <table>
                    <thead>
                      <tr>
                        <th>Generation</th>
                        <th>What changed</th>
                        <th>Why</th>
                        <th class="num">When</th>
                        {canRollback ? <th /> : null}
                      </tr>
                    </thead>
                    <tbody>
                      {newestFirst(d.generations).shown.map((g) => (
                        <tr data-generation={String(g.number)} data-live={g.live ? "1" : "0"}>
                          <td class="nowrap">
                            <strong>#{g.number}</strong>{" "}
                            {g.live ? <StatePill state="succeeded" label="live" /> : null}
                            <div class="mono small muted trunc w-path" title={g.storePath}>
                              {shortStorePath(g.storePath)}
                            </div>
                          </td>
                          <td>
                            <ChangeChips changes={g.changes} />
                          </td>
                          <td>
                            <Why e={g.madeBy} />
                          </td>
                          <td class="num nowrap">
                            <Time at={g.createdAt} now={now} />
                          </td>
                          {canRollback ? (
                            <td class="num">
                              {g.live ? null : <RollbackButton viewer={viewer} href={href} to={g.number} />}
                            </td>
                          ) : null}
                        </tr>
                      ))}
                    </tbody>
                  </table>
                  <OlderRows
                    hidden={newestFirst(d.generations).hidden}
                    what="generation"
                    hint={`flox profile generations ${org.name}/${d.profile.name} lists every one`}
                  />
                </>
              )}
            </Card>
            <Card title={`Packages in generation ${live ?? "—"}`} id="entries" flush>
              {d.profile.entries.length === 0 ? (
                <div class="empty">Empty.</div>
              ) : (
                <table>
                  <thead>
                    <tr>
                      <th>Package</th>
                      <th>Source</th>
                      <th>Store path</th>
                      <th class="num">Priority</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.profile.entries.map((e) => (
                      <tr>
                        <td>
                          <strong>{e.label}</strong>
                        </td>
                        <td class="mono small">{e.source}</td>
                        <td class="mono small trunc w-list">
                          {Object.values(e.outputs).map(storeName).join(", ")}
                        </td>
                        <td class="num">{e.priority}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </Card>
            <Card title="Activity" id="activity" flush>
              <table>
                <tbody>
                  {newestFirst(d.events).shown.map((e) => (
                    <tr data-action={e.action}>
                      <td class="nowrap">
                        <StatePill
                          state={e.action === "rollback" ? "queued" : "cancelled"}
                          label={e.action}
                        />
                      </td>
                      <td>
                        {eventText(e)}
                        {e.reason ? <span class="muted"> — “{e.reason}”</span> : null}
                      </td>
                      <td class="nowrap">
                        {e.author}
                        {e.host ? <span class="muted"> on {e.host}</span> : null}
                      </td>
                      <td class="num nowrap">
                        <Time at={e.createdAt} now={now} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <OlderRows
                hidden={newestFirst(d.events).hidden}
                what="change"
                hint={`flox profile generations ${org.name}/${d.profile.name} --json has them all`}
              />
            </Card>
          </Layout>
        );
      });
    })
    .post("/:org/profiles/:name/rollback", resolveViewer(ctx), ...requireCsrf(), async (c) => {
      // A reader may see the page but not act: 403 here, not the 404 of an org it cannot see at all.
      const { viewer } = orgForViewer(ctx, c, c.req.param("org"));
      const org = getOrg(db, c.req.param("org"));
      requireRole(db, viewer.token, org, "member", "roll back profiles of");
      const profile = getProfile(db, org, param(c, "name", Name));
      const form = await c.req.parseBody();
      const raw = typeof form.to === "string" && form.to !== "" ? form.to : undefined;
      const to = raw === undefined ? undefined : Generation_.safeParse(raw);
      if (to && !to.success) throw new InvalidInputError(`"${raw}" is not a generation number`);
      if (!opts.profiles) throw new Error("this app was made without a profile editor");
      const r = await opts.profiles.rollback(profile, to?.data, {
        author: actorOf(viewer.token),
        host: "web",
        command: `rollback button on ${profileHref(org.name, profile.name)}`,
        reason: typeof form.reason === "string" && form.reason ? form.reason.slice(0, 2000) : undefined,
      });
      ctx.logger.info(
        { profile: `${org.name}/${profile.name}`, to: r.generation?.number, by: viewer.token.id },
        "profile rolled back from the web",
      );
      if (wantsJson(c)) {
        const gens = listGenerations(db, r.profile.id);
        const n = r.generation?.number ?? 0;
        const generation = r.generation
          ? presentGeneration(
              r.generation,
              r.profile,
              listEvents(db, r.profile.id),
              gens.filter((g) => g.number < n).pop(),
            )
          : null;
        return c.json({
          profile: presentProfile(db, org.name, r.profile),
          generation,
        } satisfies ProfileEditResponse);
      }
      return c.redirect(
        `${profileHref(org.name, profile.name)}?rolledBack=${r.generation?.number ?? ""}`,
        303,
      );
    });
}
