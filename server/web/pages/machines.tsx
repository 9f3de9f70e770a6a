// GET /:org/machines (JSON = GET /api/v1/machines?org=ORG): every machine of the org, what it follows, and which
// generation of each profile it runs.
import { Hono } from "hono";
import type { AppContext } from "../../http/context.js";
import type { MachineHub } from "../../machines/hub.js";
import { listProfiles } from "../../profiles/profiles.js";
import { Card, StatePill, Time } from "../components.js";
import { DataTable } from "../data-table.js";
import { plural } from "../fleet-components.js";
import { orgMachinesData } from "../fleet-data.js";
import { OrgPage } from "../layout.js";
import { respond } from "../negotiate.js";
import { orgForViewer, resolveViewer, type WebEnv } from "../viewer.js";
import { channelHref } from "./channels.js";
import { profileHref } from "./profiles.js";

export function machinePages(
  ctx: AppContext,
  opts: { machines?: MachineHub | undefined } = {},
): Hono<WebEnv> {
  const { db } = ctx;
  const connected = (id: number) => opts.machines?.connected(id) ?? false;
  return new Hono<WebEnv>().get("/:org/machines", resolveViewer(ctx), async (c) => {
    const { org, viewer } = await orgForViewer(ctx, c, c.req.param("org"));
    const data = await orgMachinesData(db, org, connected);
    // Which generation is live, per profile: a machine on another one is behind.
    const live = new Map((await listProfiles(db, [org.id])).map((p) => [`${org.name}/${p.name}`, p.current]));
    const now = Date.now();
    return respond(c, data, ({ machines }) => {
      const online = machines.filter((m) => m.connected).length;
      return (
        <OrgPage
          title={`Machines · ${org.name}`}
          viewer={viewer}
          org={org.name}
          tab="machines"
          trail={[{ label: "Machines" }]}
          heading="Machines"
          sub={`${plural(machines.length, "machine")}, ${online} online now. Each follows profiles and channels of ${org.name} with its own machine token.`}
        >
          <Card flush>
            <DataTable
              columns={["Machine", "Follows", "Runs", { label: "Last seen", num: true }]}
              rows={machines}
              empty={
                <>
                  No machines yet. An owner makes a machine token with{" "}
                  <code>flox token create --machine --org {org.name}</code>; on the machine,{" "}
                  <code>flox machine register NAME</code> then <code>flox subscribe {org.name}/PROFILE</code>.
                </>
              }
              row={(m) => (
                <tr data-machine={m.name}>
                  <td class="nowrap">
                    <strong>{m.name}</strong>{" "}
                    {m.connected ? (
                      <StatePill state="succeeded" label="online" />
                    ) : (
                      <StatePill state="cancelled" label="offline" />
                    )}
                  </td>
                  <td>
                    <span class="subs">
                      {m.subscriptions.length === 0 ? <span class="muted">nothing</span> : null}
                      {m.subscriptions.map((s) => {
                        const [o = "", rest = ""] = s.name.split(/\/(.*)/s);
                        const href =
                          s.kind === "profile"
                            ? profileHref(o, rest)
                            : channelHref(o, rest === "" ? "main" : rest);
                        return (
                          <a class="tag" href={href}>
                            <span class="k">{s.kind}</span>
                            {s.name}
                          </a>
                        );
                      })}
                    </span>
                  </td>
                  <td>
                    {m.profiles.length === 0 ? (
                      <span class="muted">no report yet</span>
                    ) : (
                      <table class="inner">
                        <tbody>
                          {m.profiles.map((p) => {
                            const l = live.get(p.profile) ?? null;
                            return (
                              <tr
                                data-profile={p.profile}
                                data-running={p.running === null ? "" : String(p.running)}
                              >
                                <td class="mono small">{p.profile}</td>
                                <td class="nowrap">
                                  {p.running === null ? (
                                    <span class="muted">none</span>
                                  ) : (
                                    <strong>#{p.running}</strong>
                                  )}
                                  {p.running !== null && l !== null && p.running !== l ? (
                                    <span class="muted small"> behind #{l}</span>
                                  ) : null}
                                </td>
                                <td>
                                  {p.status === "failed" ? (
                                    <span title={p.message ?? ""}>
                                      <StatePill state="failed" label={`#${p.generation} failed`} />
                                    </span>
                                  ) : p.running !== null && p.running === l ? (
                                    <StatePill state="succeeded" label="up to date" />
                                  ) : m.connected ? (
                                    <StatePill state="running" label="switching" />
                                  ) : (
                                    <StatePill state="queued" label="behind" />
                                  )}
                                </td>
                              </tr>
                            );
                          })}
                        </tbody>
                      </table>
                    )}
                  </td>
                  <td class="num nowrap">
                    <Time at={m.lastSeen} now={now} />
                  </td>
                </tr>
              )}
            />
          </Card>
        </OrgPage>
      );
    });
  });
}
