// GET / : the orgs the viewer may read (JSON: the same as GET /api/v1/orgs).
import { Hono } from "hono";
import type { OrgsResponse } from "../../../lib/api/orgs.js";
import type { AppContext } from "../../http/context.js";
import { listOrgs } from "../../orgs/orgs.js";
import { readableOrgIds } from "../../orgs/permissions.js";
import { presentOrg } from "../../orgs/present.js";
import { Card, Time } from "../components.js";
import { DataTable } from "../data-table.js";
import { Layout, PageHead } from "../layout.js";
import { respond } from "../negotiate.js";
import { requireViewer, resolveViewer, type WebEnv } from "../viewer.js";

export function homeRoutes(ctx: AppContext): Hono<WebEnv> {
  return new Hono<WebEnv>().get("/", resolveViewer(ctx), async (c) => {
    const viewer = requireViewer(c);
    const origin = new URL(c.req.url).origin;
    const data: OrgsResponse = {
      orgs: (await listOrgs(ctx.db, await readableOrgIds(ctx.db, viewer.token))).map((o) =>
        presentOrg(o, origin),
      ),
    };
    return respond(c, data, ({ orgs }) => (
      <Layout title="Orgs" viewer={viewer}>
        <PageHead title="Orgs" sub="Each org has one nixexprs repo; every branch is a jobset." />
        <Card flush>
          <DataTable
            columns={["Org", "Repository", { label: "Created", num: true }]}
            rows={orgs}
            empty={
              <>
                No orgs you can see yet. An admin makes one with <code>flox org create NAME</code>.
              </>
            }
            row={(o) => (
              <tr>
                <td>
                  <a href={`/${o.name}`}>
                    <strong>{o.displayName}</strong>
                  </a>{" "}
                  {o.displayName !== o.name ? <span class="muted">{o.name}</span> : null}
                </td>
                <td class="mono small">{o.repoUrl}</td>
                <td class="num">
                  <Time at={o.createdAt} />
                </td>
              </tr>
            )}
          />
        </Card>
      </Layout>
    ));
  });
}
