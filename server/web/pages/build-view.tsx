// The build page's view parts, shared by the page and its live SSE fragments: facts, actions, deps, log.
import { raw } from "hono/html";
import type { BuildDetail } from "../../../lib/api/builds.js";
import { restartableStates, unfinishedStates } from "../../builds/builds.js";
import { ActionForm, duration, StatePill, Time } from "../components.js";
import type { Viewer } from "../viewer.js";

export const attrOf = (b: BuildDetail, org: string) => b.jobs.find((j) => j.org === org)?.attr;
export const drvName = (drv: string) => drv.replace(/^\/nix\/store\/[0-9a-z]{32}-/, "").replace(/\.drv$/, "");

export function BuildFacts({ b, org, now }: { b: BuildDetail; org: string; now: number }) {
  const live = unfinishedStates.includes(b.state);
  const jobs = b.jobs.filter((j) => j.org === org);
  // Relayed Nix daemon connections of this org that asked for it (flox daemon, flox nix): who, from where.
  const relay = b.relay.filter((r) => r.org === org);
  // Jobs of other orgs, named or not, are counted only: a shared build is each org's own business.
  const others = b.jobs.length - jobs.length + b.relay.length - relay.length + b.otherJobs;
  return (
    <dl class="facts">
      <dt>Status</dt>
      <dd>
        <StatePill state={b.state} />
        {b.message ? <span class="muted small"> {b.message}</span> : null}
      </dd>
      <dt>Queued</dt>
      <dd>
        <Time at={b.createdAt} now={now} />
      </dd>
      <dt>Started</dt>
      <dd>
        <Time at={b.startedAt} now={now} />
      </dd>
      <dt>Finished</dt>
      <dd>
        <Time at={b.finishedAt} now={now} />
      </dd>
      <dt>Duration</dt>
      <dd>
        {duration(b.startedAt, b.finishedAt, now)}
        {live && b.startedAt ? <span class="muted small"> so far</span> : null}
      </dd>
      <dt>Builder</dt>
      <dd>{b.builder ?? <span class="muted">—</span>}</dd>
      <dt>Attempts</dt>
      <dd>{b.attempts}</dd>
      <dt>System</dt>
      <dd>
        <code>{b.system}</code>
        {b.requiredFeatures.length ? (
          <span class="muted small"> needs {b.requiredFeatures.join(", ")}</span>
        ) : null}
      </dd>
      <dt>Derivation</dt>
      <dd>
        <code>{b.drvPath}</code>
      </dd>
      <dt>Outputs</dt>
      <dd>
        {Object.entries(b.outputs).map(([name, path]) => (
          <div>
            <span class="muted small">{name}</span> <code>{path}</code>
          </div>
        ))}
      </dd>
      <dt>Wanted by</dt>
      <dd>
        {relay.map((r) => (
          <div data-relay-session={r.session}>
            relay by <strong>{r.actor}</strong>
            {r.host ? <span class="muted small"> on {r.host}</span> : null} <StatePill state={r.state} />
          </div>
        ))}
        {jobs.length === 0 && relay.length === 0 ? (
          <span class="muted">—</span>
        ) : (
          jobs.map((j) => (
            <div>
              <a href={`/${org}/jobsets/${encodeURIComponent(j.branch)}`}>{j.branch}</a> ·{" "}
              <a href={`/${org}/evaluations/${j.evaluation}`}>evaluation #{j.evaluation}</a> ·{" "}
              <code>{j.attr}</code> <StatePill state={j.state} />
            </div>
          ))
        )}
        {others > 0 ? (
          <div class="muted small" data-other-jobs={others}>
            and {others} job{others === 1 ? "" : "s"} of other orgs
          </div>
        ) : null}
      </dd>
    </dl>
  );
}

export function BuildActions(p: { b: BuildDetail; org: string; viewer: Viewer | null; steer: boolean }) {
  if (!p.steer) return null;
  const mine = p.b.jobs.filter((j) => j.org === p.org);
  const live = unfinishedStates.includes(p.b.state);
  // This org withdrew while others keep the build going: a restart makes it want the build again.
  const withdrawn = live && mine.length > 0 && mine.every((j) => j.state === "cancelled");
  return (
    <>
      {live && !withdrawn ? (
        <ActionForm viewer={p.viewer} action={`/${p.org}/builds/${p.b.id}/cancel`}>
          <button class="btn danger" type="submit" data-action="cancel">
            Cancel
          </button>
        </ActionForm>
      ) : null}
      {restartableStates.includes(p.b.state) || withdrawn ? (
        <ActionForm viewer={p.viewer} action={`/${p.org}/builds/${p.b.id}/restart`}>
          <button class="btn primary" type="submit" data-action="restart">
            Restart
          </button>
        </ActionForm>
      ) : null}
    </>
  );
}

export const Deps = ({ title, list, org }: { title: string; list: BuildDetail["dependsOn"]; org: string }) =>
  list.length === 0 ? null : (
    <div>
      <h3>{title}</h3>
      <table>
        <tbody>
          {list.map((d) => (
            <tr>
              <td>
                <a href={`/${org}/builds/${d.id}`}>build {d.id}</a>
              </td>
              <td class="num">
                <StatePill state={d.state} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );

/** Log HTML made by AnsiHtml, which escapes every character of the log itself. */
export const LogHtml = ({ html }: { html: string }) => raw(html);
