// GET /:org/channels (JSON = GET /api/v1/channels?org=ORG) and GET /:org/channels/:branch (JSON = the channel
// from GET /api/v1/channels/ORG/BRANCH and its history from …/history): where each channel points, what every
// advance changed, and how to subscribe.
import { type Context, Hono } from "hono";
import { z } from "zod";
import type { ChannelHistoryPoint, ChannelResponse } from "../../../lib/api/channels.js";
import { Branch } from "../../../lib/api/common.js";
import { type ChannelPublisher, channelName, pinChannel, unpinChannel } from "../../channels/channels.js";
import { presentChannel } from "../../channels/present.js";
import { InvalidInputError } from "../../errors.js";
import { getJobset } from "../../evaluations/data.js";
import { formBody } from "../../http/body-limit.js";
import type { AppContext } from "../../http/context.js";
import { param } from "../../http/validate.js";
import type { OrgRecord } from "../../orgs/orgs.js";
import { requireRole, roleAtLeast } from "../../orgs/permissions.js";
import { actorOf } from "../../orgs/tokens.js";
import { commitInfo } from "../commits.js";
import { ActionForm, Card, CopyLine, StatePill, shortSha, Time } from "../components.js";
import { requireCsrf } from "../csrf.js";
import { DataTable } from "../data-table.js";
import { ChangeChips, newestFirst, OlderRows, plural, storeName } from "../fleet-components.js";
import { type ChannelPageData, channelData, orgChannelsData } from "../fleet-data.js";
import { OrgPage } from "../layout.js";
import { respond, wantsJson } from "../negotiate.js";
import { orgForViewer, readableOrgForViewer, resolveViewer, type WebEnv } from "../viewer.js";

export interface ChannelPageOptions {
  /** The Storehouse's `name:base64` key, for the nix.conf lines; absent in API-only apps. */
  publicKey?: string | undefined;
  /** `flox server --private-cache`: channel and cache reads need a token (the page says how to give it). */
  privateCache?: boolean | undefined;
  /** Told of pins (machines following the channel hear of them) and poked on unpin. */
  channels?: ChannelPublisher | undefined;
}

const EvaluationId = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** Where a channel's page is: `/acme/channels/main`, `/acme/channels/feature/x`. */
export const channelHref = (org: string, branch: string) =>
  `/${org}/channels/${branch.split("/").map(encodeURIComponent).join("/")}`;

/** `nix-channel --add URL NAME` wants a name without slashes: `acme/staging` → `acme-staging`. */
const nixChannelName = (name: string) => name.replaceAll("/", "-");

const When = ({ p, now }: { p: ChannelHistoryPoint | ChannelPageData["channel"]["current"]; now: number }) =>
  p ? <Time at={p.createdAt} now={now} /> : null;

export function channelPages(ctx: AppContext, opts: ChannelPageOptions = {}): Hono<WebEnv> {
  const { db } = ctx;
  /** A pin or unpin: an org the viewer cannot see is a 404, a reader's request a 403. */
  const forAction = async (c: Context<WebEnv>) => {
    const { org, viewer } = await orgForViewer(ctx, c, c.req.param("org") ?? "");
    await requireRole(db, viewer.token, org, "member", "pin or unpin channels of");
    return { org, viewer, jobset: await getJobset(db, org, param(c, "branch", Branch)) };
  };
  /** Back to the channel page (303), or the API's `{channel}` for a JSON client. */
  const answer = async (c: Context<WebEnv>, org: OrgRecord, branch: string, query: string) => {
    if (wantsJson(c)) {
      const channel = await presentChannel(
        db,
        new URL(c.req.url).origin,
        org,
        await getJobset(db, org, branch),
      );
      return c.json({ channel } satisfies ChannelResponse);
    }
    return c.redirect(`${channelHref(org.name, branch)}${query}`, 303);
  };
  return new Hono<WebEnv>()
    .get("/:org/channels", resolveViewer(ctx), async (c) => {
      const { org, viewer } = await readableOrgForViewer(ctx, c, c.req.param("org"));
      const origin = new URL(c.req.url).origin;
      const data = await orgChannelsData(db, origin, org);
      const now = Date.now();
      return respond(c, data, ({ channels }) => (
        <OrgPage
          title={`Channels · ${org.name}`}
          viewer={viewer}
          org={org.name}
          tab="channels"
          trail={[{ label: "Channels" }]}
          heading="Channels"
          sub={`Every branch publishes one: its newest evaluation whose packages are all built. ${plural(channels.length, "channel")}.`}
        >
          <Card flush>
            <DataTable
              columns={[
                "Channel",
                "State",
                "Evaluation",
                "Commit",
                "Nix channel URL",
                { label: "Moved", num: true },
              ]}
              rows={channels}
              empty="No channels yet: push a branch; once its packages are built it is published."
              row={(ch) => (
                <tr data-channel={ch.name}>
                  <td>
                    <a href={channelHref(org.name, ch.branch)}>
                      <strong>{ch.name}</strong>
                    </a>{" "}
                    <span class="muted small">{ch.branch}</span>
                  </td>
                  <td>
                    {ch.current === null ? (
                      <StatePill state="queued" label="not published yet" />
                    ) : ch.pinned ? (
                      <StatePill state="queued" label="pinned" />
                    ) : (
                      <StatePill state="succeeded" label="following CI" />
                    )}
                  </td>
                  <td>
                    {ch.current ? (
                      <a href={`/${org.name}/evaluations/${ch.current.evaluation}`}>
                        #{ch.current.evaluation}
                      </a>
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                  <td>{ch.current ? <code>{shortSha(ch.current.commitSha)}</code> : null}</td>
                  <td class="mono small trunc">{ch.url}</td>
                  <td class="num nowrap">
                    <When p={ch.current} now={now} />
                  </td>
                </tr>
              )}
            />
          </Card>
        </OrgPage>
      ));
    })
    .get("/:org/channels/:branch{.+}", resolveViewer(ctx), async (c) => {
      const { org, viewer, role } = await readableOrgForViewer(ctx, c, c.req.param("org"));
      const canPin = roleAtLeast(role, "member");
      const pinned = EvaluationId.safeParse(c.req.query("pinned"));
      const unpinned = c.req.query("unpinned") === "1";
      const branch = param(c, "branch", Branch);
      const origin = new URL(c.req.url).origin;
      const data = await channelData(db, origin, org, branch);
      const commits = await commitInfo(
        ctx.paths.repos,
        org.name,
        newestFirst(data.history).shown.map((p) => p.commitSha),
      );
      const now = Date.now();
      return respond(c, data, ({ channel, history }) => {
        const cur = channel.current;
        const curCommit = cur ? commits.get(cur.commitSha) : undefined;
        const alias = nixChannelName(channel.name);
        const attrs = Object.keys(channel.packages);
        const example = attrs[0] ?? "PACKAGE";
        const href = channelHref(org.name, channel.branch);
        return (
          <OrgPage
            title={`${channel.name} · channel`}
            viewer={viewer}
            org={org.name}
            tab="channels"
            trail={[{ label: "Channels", href: `/${org.name}/channels` }, { label: channel.branch }]}
            heading={
              <>
                Channel <span class="hname">{channel.name}</span>
              </>
            }
            sub={
              <>
                Branch{" "}
                <a href={`/${org.name}/jobsets/${encodeURIComponent(channel.branch)}`}>{channel.branch}</a> ·{" "}
                {cur === null
                  ? "not published yet"
                  : channel.pinned
                    ? `pinned at evaluation #${cur.evaluation}`
                    : "follows every green evaluation"}{" "}
                · {plural(attrs.length, "package")} · {plural(history.length, "move")}
              </>
            }
            actions={
              <>
                {cur === null ? (
                  <StatePill state="queued" label="not published yet" />
                ) : channel.pinned ? (
                  <StatePill state="queued" label="pinned" />
                ) : (
                  <StatePill state="succeeded" label="following CI" />
                )}
                {canPin && channel.pinned ? (
                  <ActionForm viewer={viewer} action={`${href}/unpin`}>
                    <button class="btn" type="submit" id="unpin">
                      Unpin: follow CI again
                    </button>
                  </ActionForm>
                ) : null}
              </>
            }
          >
            {pinned.success && channel.pinned && cur?.evaluation === pinned.data ? (
              <div class="flash" id="flash">
                Channel {channel.name} is pinned at evaluation #{pinned.data}:{" "}
                <code>nix-channel --update</code> now gets its packages, and CI no longer moves it until it is
                unpinned.
              </div>
            ) : null}
            {unpinned && !channel.pinned ? (
              <div class="flash" id="flash">
                Channel {channel.name} follows CI again: it moves to the newest evaluation whose packages are
                built.
              </div>
            ) : null}
            <div class="grid">
              <div class="stat">
                <div class="k">Current evaluation</div>
                <div class="v" id="current-evaluation">
                  {cur ? <a href={`/${org.name}/evaluations/${cur.evaluation}`}>#{cur.evaluation}</a> : "—"}
                </div>
              </div>
              <div class="stat">
                <div class="k">Commit</div>
                <div class="v mid-v trunc">
                  {cur ? (
                    <>
                      <code>{shortSha(cur.commitSha)}</code>{" "}
                      {curCommit ? <span>{curCommit.subject}</span> : null}
                    </>
                  ) : (
                    "—"
                  )}
                </div>
              </div>
              <div class="stat">
                <div class="k">{cur?.reason === "pinned" ? `Pinned by ${cur.actor ?? "?"}` : "Advanced"}</div>
                <div class="v">{cur ? <Time at={cur.createdAt} now={now} /> : "—"}</div>
              </div>
            </div>
            <Card title="Subscribe" id="subscribe">
              <h3>With Nix</h3>
              <CopyLine text={`nix-channel --add ${channel.url} ${alias}`} />
              <div class="gap" />
              <CopyLine text={`nix-channel --update ${alias} && nix-env -iA ${alias}.${example}`} />
              {opts.publicKey ? (
                <>
                  <p class="muted small note">
                    Packages come from this server's Storehouse; trust its key in <code>nix.conf</code>:
                  </p>
                  <CopyLine text={`extra-substituters = ${origin}/cache`} />
                  <div class="gap" />
                  <CopyLine text={`extra-trusted-public-keys = ${opts.publicKey}`} />
                  {opts.privateCache ? (
                    <p class="muted small note">
                      Reads need a token on this server: give it as the password for {new URL(origin).host} in
                      a netrc file (<code>netrc-file</code> in <code>nix.conf</code>), for the channel and the
                      cache.
                    </p>
                  ) : null}
                </>
              ) : null}
              <h3 class="sp">A machine of {org.name} (machine token)</h3>
              <CopyLine text={`flox --server ${origin} subscribe --channel ${channel.name}`} />
            </Card>
            <Card
              title="History"
              id="history"
              flush
              tools={<span class="muted small">newest first · what each move changed</span>}
            >
              {history.length === 0 ? (
                <div class="empty">
                  Nothing published yet: the channel moves once an evaluation of {channel.branch} has every
                  package built.
                </div>
              ) : (
                <>
                  <table>
                    <thead>
                      <tr>
                        <th>Evaluation</th>
                        <th>Commit</th>
                        <th>Why</th>
                        <th>What changed</th>
                        <th class="num">When</th>
                        {canPin ? <th /> : null}
                      </tr>
                    </thead>
                    <tbody>
                      {newestFirst(history).shown.map((p) => {
                        const commit = commits.get(p.commitSha);
                        return (
                          <tr data-point={String(p.id)} data-evaluation={String(p.evaluation)}>
                            <td class="nowrap">
                              <a href={`/${org.name}/evaluations/${p.evaluation}`}>#{p.evaluation}</a>
                              {p.id === cur?.id ? (
                                <>
                                  {" "}
                                  <StatePill state="succeeded" label="current" />
                                </>
                              ) : null}
                            </td>
                            <td class="trunc w-commit">
                              <code>{shortSha(p.commitSha)}</code>{" "}
                              {commit ? <span>{commit.subject}</span> : null}
                            </td>
                            <td class="nowrap">
                              {p.reason === "pinned" ? `pinned by ${p.actor ?? "?"}` : "CI advanced it"}
                            </td>
                            <td>
                              <ChangeChips changes={p.changes} />
                            </td>
                            <td class="num nowrap">
                              <Time at={p.createdAt} now={now} />
                            </td>
                            {canPin ? (
                              <td class="num">
                                {p.evaluation === cur?.evaluation ? null : (
                                  <ActionForm viewer={viewer} action={`${href}/pin`}>
                                    <input type="hidden" name="evaluation" value={String(p.evaluation)} />
                                    <button
                                      class="btn"
                                      type="submit"
                                      title="point the channel here and keep it here"
                                    >
                                      Pin here
                                    </button>
                                  </ActionForm>
                                )}
                              </td>
                            ) : null}
                          </tr>
                        );
                      })}
                    </tbody>
                  </table>
                  <OlderRows
                    hidden={newestFirst(history).hidden}
                    what="move"
                    hint={`flox channel history ${channel.name} lists every one`}
                  />
                </>
              )}
            </Card>
            <Card title={`Packages (${attrs.length})`} id="packages" flush>
              <DataTable
                columns={["Attribute", "Store path"]}
                rows={attrs}
                empty="No packages published yet."
                row={(a) => (
                  <tr data-attr={a}>
                    <td>
                      <strong>{a}</strong>
                    </td>
                    <td class="mono small" title={channel.packages[a]}>
                      <span class="muted">/nix/store/…-</span>
                      {storeName(channel.packages[a])}
                    </td>
                  </tr>
                )}
              />
            </Card>
          </OrgPage>
        );
      });
    })
    .post("/:org/channels/:branch{.+}/pin", resolveViewer(ctx), ...requireCsrf(), async (c) => {
      const { org, jobset, viewer } = await forAction(c);
      const form = await formBody(c);
      const evaluation = EvaluationId.safeParse(form.evaluation);
      if (!evaluation.success)
        throw new InvalidInputError("say which evaluation to pin: the form's evaluation field");
      const point = await pinChannel(db, jobset, evaluation.data, actorOf(viewer.token));
      opts.channels?.emit("pinned", point);
      ctx.logger.info(
        { channel: channelName(org.name, jobset.branch), point: point.id },
        "channel pinned from the web",
      );
      return answer(c, org, jobset.branch, `?pinned=${evaluation.data}`);
    })
    .post("/:org/channels/:branch{.+}/unpin", resolveViewer(ctx), ...requireCsrf(), async (c) => {
      const { org, jobset } = await forAction(c);
      await unpinChannel(db, jobset);
      opts.channels?.poke();
      return answer(c, org, jobset.branch, "?unpinned=1");
    });
}
