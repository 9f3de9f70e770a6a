// The profile page's parts. Each live part renders alone too, so the page's event stream (…/live) can send the
// parts that changed as HTML fragments (client.ts puts them in place by id): the rollout moves as machines report.
import { createHash } from "node:crypto";
import type { FC } from "hono/jsx";
import type { ProfileEvent } from "../../../lib/api/profiles.js";
import type { Schedule } from "../../profiles/schedules.js";
import { Card, CsrfField, StatePill, Time } from "../components.js";
import {
  ChangeChips,
  newestFirst,
  OlderRows,
  plural,
  RolloutBar,
  shortStorePath,
  storeName,
} from "../fleet-components.js";
import type { ProfilePageData } from "../fleet-data.js";
import { Layout, OrgTabs, PageHead } from "../layout.js";
import type { Viewer } from "../viewer.js";

export const profileHref = (org: string, name: string) => `/${org}/profiles/${name}`;

/** What one rendering of the page shows, and for whom. */
export interface ProfileView {
  d: ProfilePageData;
  org: string;
  viewer: Viewer;
  /** Member or more: the rollback buttons show. */
  canRollback: boolean;
  now: number;
}

/** Names the data a page was rendered from; the event stream sends fragments only when it changed. */
export const profileVersion = (d: ProfilePageData) =>
  createHash("sha256").update(JSON.stringify(d)).digest("hex").slice(0, 16);

function scheduleText(s: Schedule): string {
  const jitter = s.jitterSeconds ? `, machines spread over ${s.jitterSeconds} s` : "";
  if (s.kind === "off") return "off: upgraded by hand only";
  if (s.kind === "cron") return `cron ${s.cron ?? "?"}${jitter}`;
  return `on publish: upgrades when a followed channel moves${jitter}`;
}

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
const RollbackButton: FC<{ viewer: Viewer; href: string; to: number; primary?: boolean }> = (p) => (
  <form method="post" action={`${p.href}/rollback`} class="rollback" data-to={String(p.to)}>
    <CsrfField viewer={p.viewer} />
    <input type="hidden" name="to" value={String(p.to)} />
    <button class={p.primary ? "btn danger" : "btn"} type="submit">
      {p.primary ? `Roll back to generation ${p.to}` : "Make live"}
    </button>
  </form>
);

export const HeadSub: FC<ProfileView> = ({ d }) => (
  <>
    {d.profile.current === null ? "no generation yet" : `generation ${d.profile.current} is live`} ·{" "}
    {plural(d.profile.entries.length, "package")} · {plural(d.generations.length, "generation")}
  </>
);

/** The one-click rollback: to the newest generation before the live one. */
export const HeadActions: FC<ProfileView> = ({ d, org, viewer }) => {
  const live = d.profile.current;
  const previous = [...d.generations].reverse().find((g) => live !== null && g.number < live);
  return previous ? (
    <RollbackButton viewer={viewer} href={profileHref(org, d.profile.name)} to={previous.number} primary />
  ) : null;
};

export const Stats: FC<ProfileView> = ({ d, now }) => {
  const live = d.profile.current;
  const st = d.status.summary;
  return (
    <>
      <div class="stat">
        <div class="k">Live generation</div>
        <div class="v" id="live-generation" data-live={live === null ? "" : String(live)}>
          {live === null ? "—" : `#${live}`}
        </div>
      </div>
      <div class="stat">
        <div class="k">Machines on it</div>
        <div class="v" id="on-live" data-on-live={String(st.onLive)}>
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
    </>
  );
};

export const RolloutBody: FC<ProfileView> = ({ d, now }) => {
  const live = d.profile.current;
  return (
    <>
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
              <tr data-machine={m.machine} data-running={m.running === null ? "" : String(m.running)}>
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
                  {m.lagging && live !== null ? <span class="muted small"> (behind #{live})</span> : null}
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
    </>
  );
};

export const GenerationsBody: FC<ProfileView> = ({ d, org, viewer, canRollback, now }) => {
  if (d.generations.length === 0) {
    return (
      <div class="empty">
        No generation yet:{" "}
        <code>
          flox profile install {org}/{d.profile.name} {org}#PACKAGE
        </code>{" "}
        makes the first.
      </div>
    );
  }
  const href = profileHref(org, d.profile.name);
  const { shown, hidden } = newestFirst(d.generations);
  return (
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
          {shown.map((g) => (
            <tr data-generation={String(g.number)} data-live={g.live ? "1" : "0"}>
              <td class="nowrap">
                <strong>#{g.number}</strong> {g.live ? <StatePill state="succeeded" label="live" /> : null}
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
        hidden={hidden}
        what="generation"
        hint={`flox profile generations ${org}/${d.profile.name} lists every one`}
      />
    </>
  );
};

export const EntriesBody: FC<ProfileView> = ({ d }) =>
  d.profile.entries.length === 0 ? (
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
            <td class="mono small trunc w-list">{Object.values(e.outputs).map(storeName).join(", ")}</td>
            <td class="num">{e.priority}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );

export const ActivityBody: FC<ProfileView> = ({ d, org }) => {
  const { shown, hidden } = newestFirst(d.events);
  return (
    <>
      <table>
        <tbody>
          {shown.map((e) => (
            <tr data-action={e.action}>
              <td class="nowrap">
                <StatePill state={e.action === "rollback" ? "queued" : "cancelled"} label={e.action} />
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
                <Time at={e.createdAt} now={Date.now()} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <OlderRows
        hidden={hidden}
        what="change"
        hint={`flox profile generations ${org}/${d.profile.name} --json has them all`}
      />
    </>
  );
};

/** The parts the event stream replaces, by element id. */
export async function profileFragments(v: ProfileView): Promise<Record<string, string>> {
  const html = async (el: unknown) => String(await el);
  return {
    "head-sub": await html(<HeadSub {...v} />),
    ...(v.canRollback ? { "head-actions": await html(<HeadActions {...v} />) } : {}),
    stats: await html(<Stats {...v} />),
    "rollout-body": await html(<RolloutBody {...v} />),
    "generations-body": await html(<GenerationsBody {...v} />),
    "entries-title": await html(<>Packages in generation {v.d.profile.current ?? "—"}</>),
    "entries-body": await html(<EntriesBody {...v} />),
    "activity-body": await html(<ActivityBody {...v} />),
  };
}

export const ProfilePage: FC<ProfileView & { rolledBack: number | undefined }> = (v) => {
  const { d, org, viewer } = v;
  const live = d.profile.current;
  return (
    <Layout
      title={`${org}/${d.profile.name} · profile`}
      viewer={viewer}
      crumbs={[
        { label: "Orgs", href: "/" },
        { label: org, href: `/${org}` },
        { label: "Profiles", href: `/${org}/profiles` },
        { label: d.profile.name },
      ]}
    >
      <div
        data-live-url={`${profileHref(org, d.profile.name)}/live?v=${profileVersion(d)}`}
        data-live-version={profileVersion(d)}
      >
        <PageHead
          title={
            <>
              Profile <span class="hname">{`${org}/${d.profile.name}`}</span>
            </>
          }
          sub={
            <span id="head-sub">
              <HeadSub {...v} />
            </span>
          }
          actions={
            v.canRollback ? (
              <span id="head-actions">
                <HeadActions {...v} />
              </span>
            ) : null
          }
        />
        <OrgTabs org={org} on="profiles" />
        {v.rolledBack !== undefined && v.rolledBack === live ? (
          <div class="flash" id="flash">
            Generation {v.rolledBack} is live again. Machines that follow {org}/{d.profile.name} switch to it
            now.
          </div>
        ) : null}
        <div class="grid" id="stats">
          <Stats {...v} />
        </div>
        <Card title={<h2>Rollout</h2>} id="rollout" tools={<span class="live" id="live-state" />}>
          <div id="rollout-body">
            <RolloutBody {...v} />
          </div>
        </Card>
        <Card
          title="Generations"
          id="generations"
          flush
          tools={<span class="muted small">newest first</span>}
        >
          <div id="generations-body">
            <GenerationsBody {...v} />
          </div>
        </Card>
        <Card title={<h2 id="entries-title">Packages in generation {live ?? "—"}</h2>} id="entries" flush>
          <div id="entries-body">
            <EntriesBody {...v} />
          </div>
        </Card>
        <Card title="Activity" id="activity" flush>
          <div id="activity-body">
            <ActivityBody {...v} />
          </div>
        </Card>
      </div>
    </Layout>
  );
};
