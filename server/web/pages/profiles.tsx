// GET /:org/profiles (JSON = GET /api/v1/profiles?org=ORG), GET /:org/profiles/:name (JSON = the profile, its
// generations and events, schedule and rollout status from the four /api/v1/profiles/ORG/NAME routes), and
// POST /:org/profiles/:name/rollback (members; CSRF-checked), the one-click rollback.
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import { Name } from "../../../lib/api/common.js";
import type { ProfileEditResponse } from "../../../lib/api/profiles.js";
import { DEFAULT_LIVE } from "../../config.js";
import { InvalidInputError } from "../../errors.js";
import { formBody } from "../../http/body-limit.js";
import type { AppContext } from "../../http/context.js";
import { param } from "../../http/validate.js";
import type { MachineHub } from "../../machines/hub.js";
import { profileStatus } from "../../machines/status.js";
import { requireRole, roleAtLeast } from "../../orgs/permissions.js";
import { actorOf, findTokenById } from "../../orgs/tokens.js";
import type { ProfileEditor } from "../../profiles/editor.js";
import { presentGeneration, presentProfile } from "../../profiles/present.js";
import { getProfile, listEvents, listGenerations, listProfiles } from "../../profiles/profiles.js";
import { Card, Time } from "../components.js";
import { requireCsrf } from "../csrf.js";
import { DataTable } from "../data-table.js";
import { plural, shortStorePath } from "../fleet-components.js";
import { orgProfilesData, type ProfilePageData, profileData } from "../fleet-data.js";
import { OrgPage } from "../layout.js";
import { respond, wantsJson } from "../negotiate.js";
import { orgForViewer, resolveViewer, type WebEnv } from "../viewer.js";
import { ProfilePage, profileFragments, profileHref, profileVersion } from "./profile-view.js";

export interface ProfilePageOptions {
  /** Makes the rollback; absent in API-only apps (the button then fails with a 500). */
  profiles?: ProfileEditor | undefined;
  /** Whose event streams are open (the rollout's "connected"). */
  machines?: MachineHub | undefined;
}

export { profileHref };

const Generation_ = z.coerce.number().int().positive().max(1_000_000_000);

/** A stream ends after this long; EventSource then reconnects (bounded work for a forgotten tab). */
const LIVE_MAX_MS = 10 * 60_000;

export function profilePages(ctx: AppContext, opts: ProfilePageOptions = {}): Hono<WebEnv> {
  const { db } = ctx;
  const connected = (id: number) => opts.machines?.connected(id) ?? false;
  /** How often an open profile page's stream looks for changes (reports, rollbacks, new generations). */
  const LIVE_POLL_MS = (ctx.live ?? DEFAULT_LIVE).webPollMs;
  return new Hono<WebEnv>()
    .get("/:org/profiles", resolveViewer(ctx), async (c) => {
      const { org, viewer } = await orgForViewer(ctx, c, c.req.param("org"));
      const data = await orgProfilesData(db, org);
      // How far each live generation has rolled out (the page shows it; the JSON twin is the API's list).
      const rollout = new Map<string, Awaited<ReturnType<typeof profileStatus>>["summary"]>();
      for (const p of await listProfiles(db, [org.id])) {
        rollout.set(p.name, (await profileStatus(db, org.name, p, connected)).summary);
      }
      const now = Date.now();
      return respond(c, data, ({ profiles }) => (
        <OrgPage
          title={`Profiles · ${org.name}`}
          viewer={viewer}
          org={org.name}
          tab="profiles"
          trail={[{ label: "Profiles" }]}
          heading="Profiles"
          sub={`Named package sets machines follow; every change is a numbered generation. ${plural(profiles.length, "profile")}.`}
        >
          <Card flush>
            <DataTable
              columns={[
                "Profile",
                "Live generation",
                "Packages",
                "Machines on it",
                "User environment",
                { label: "Created", num: true },
              ]}
              rows={profiles}
              empty={
                <>
                  No profiles yet. A member makes one with <code>flox profile create {org.name}/NAME</code>.
                </>
              }
              row={(p) => (
                <tr data-profile={p.name}>
                  <td>
                    <a href={profileHref(org.name, p.name)}>
                      <strong>{p.name}</strong>
                    </a>
                  </td>
                  <td>
                    {p.current === null ? <span class="muted">none yet</span> : <strong>#{p.current}</strong>}
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
              )}
            />
          </Card>
        </OrgPage>
      ));
    })
    .get("/:org/profiles/:name", resolveViewer(ctx), async (c) => {
      const { org, viewer, role } = await orgForViewer(ctx, c, c.req.param("org"));
      const name = param(c, "name", Name);
      const data = await profileData(db, org, name, connected);
      const canRollback = roleAtLeast(role, "member");
      const rolled = Generation_.safeParse(c.req.query("rolledBack"));
      const now = Date.now();
      return respond(c, data, (d: ProfilePageData) => (
        <ProfilePage
          d={d}
          org={org.name}
          viewer={viewer}
          canRollback={canRollback}
          now={now}
          rolledBack={rolled.success ? rolled.data : undefined}
        />
      ));
    })
    .get("/:org/profiles/:name/live", resolveViewer(ctx), async (c) => {
      const { org, viewer, role } = await orgForViewer(ctx, c, c.req.param("org"));
      const name = param(c, "name", Name);
      await profileData(db, org, name, connected); // a 404 before the stream starts
      const canRollback = roleAtLeast(role, "member");
      let seen = c.req.header("last-event-id") ?? c.req.query("v") ?? "";
      const res = streamSSE(c, async (stream) => {
        let open = true;
        stream.onAbort(() => {
          open = false;
        });
        const until = Date.now() + LIVE_MAX_MS;
        await stream.write("retry: 2000\n\n");
        let beat = Date.now();
        while (open && Date.now() < until && !opts.machines?.closed) {
          // A revoked token or ended session stops the page's updates too.
          if ((await findTokenById(db, viewer.token.id))?.revokedAt) break;
          const d = await profileData(db, org, name, connected);
          const version = profileVersion(d);
          if (version !== seen) {
            seen = version;
            const html = await profileFragments({ d, org: org.name, viewer, canRollback, now: Date.now() });
            await stream.writeSSE({
              event: "fragments",
              id: version,
              data: JSON.stringify({ version, html }),
            });
            beat = Date.now();
          } else if (Date.now() - beat > 15_000) {
            await stream.write(": ping\n\n");
            beat = Date.now();
          }
          await stream.sleep(LIVE_POLL_MS);
        }
      });
      // The stream is this connection's only use: closed with it, so a shutdown never waits on a kept-alive socket.
      res.headers.set("connection", "close");
      return res;
    })
    .post("/:org/profiles/:name/rollback", resolveViewer(ctx), ...requireCsrf(), async (c) => {
      // A reader may see the page but not act: 403 here, not the 404 of an org it cannot see at all.
      const { org, viewer } = await orgForViewer(ctx, c, c.req.param("org"));
      await requireRole(db, viewer.token, org, "member", "roll back profiles of");
      const profile = await getProfile(db, org, param(c, "name", Name));
      const form = await formBody(c);
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
        const gens = await listGenerations(db, r.profile.id);
        const n = r.generation?.number ?? 0;
        const generation = r.generation
          ? presentGeneration(
              r.generation,
              r.profile,
              await listEvents(db, r.profile.id),
              gens.filter((g) => g.number < n).pop(),
            )
          : null;
        return c.json({
          profile: await presentProfile(db, org.name, r.profile),
          generation,
        } satisfies ProfileEditResponse);
      }
      return c.redirect(
        `${profileHref(org.name, profile.name)}?rolledBack=${r.generation?.number ?? ""}`,
        303,
      );
    });
}
