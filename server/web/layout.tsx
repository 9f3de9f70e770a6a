// The frame of every page: top bar (brand, nav, who is logged in), breadcrumbs, title, and the page's body.
import { raw } from "hono/html";
import type { Child, FC, PropsWithChildren } from "hono/jsx";
import { assetUrls } from "./assets.js";
import { CsrfField } from "./components.js";
import type { Viewer } from "./viewer.js";

export interface Crumb {
  label: string;
  href?: string;
}

export interface LayoutProps {
  /** The document title (the org or page name; " · flox" is added). */
  title: string;
  viewer: Viewer | null;
  /** Path from the top, the current page last (without href). */
  crumbs?: Crumb[];
  /** The org whose tabs show under the top bar, and which tab is on. */
  org?: { name: string; tab?: OrgTab };
}

export type OrgTab = "jobsets" | "channels" | "profiles" | "machines";

const whoOf = (v: Viewer) => v.token.user ?? v.token.name ?? `${v.token.scope} token`;

export const Layout: FC<PropsWithChildren<LayoutProps>> = (p) => (
  <>
    {raw("<!doctype html>")}
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${p.title} · flox`}</title>
        <link rel="stylesheet" href={assetUrls.style} />
        <link rel="icon" href={assetUrls.icon} type="image/svg+xml" />
        <script src={assetUrls.script} defer />
      </head>
      <body>
        <header class="topbar">
          <div class="in">
            <a class="brand" href="/">
              <img class="logo" src={assetUrls.icon} alt="" width="22" height="22" />
              flox
            </a>
            <nav class="topnav">
              {p.viewer ? (
                <>
                  <a href="/">Orgs</a>
                  <a href="/-/builders">Builders</a>
                  <a href="/-/storehouse">Storehouse</a>
                </>
              ) : null}
            </nav>
            <div class="who">
              {p.viewer ? (
                <>
                  <span title={`${p.viewer.token.scope} token ${p.viewer.token.prefix}…`}>
                    {whoOf(p.viewer)}
                  </span>
                  {p.viewer.session ? (
                    <form method="post" action="/logout">
                      <CsrfField viewer={p.viewer} />
                      <button class="linkbtn" type="submit">
                        Log out
                      </button>
                    </form>
                  ) : null}
                </>
              ) : (
                <a class="linkbtn" href="/login">
                  Log in
                </a>
              )}
            </div>
          </div>
        </header>
        <main>
          {p.crumbs && p.crumbs.length > 0 ? <Crumbs crumbs={p.crumbs} /> : null}
          {p.children}
        </main>
        <footer>flox · self-hosted Nix CI, binary cache and distribution</footer>
      </body>
    </html>
  </>
);

const Crumbs: FC<{ crumbs: Crumb[] }> = ({ crumbs }) => {
  const out: Child[] = [];
  crumbs.forEach((c, i) => {
    if (i > 0) out.push(<span class="sep">/</span>);
    out.push(c.href ? <a href={c.href}>{c.label}</a> : <span>{c.label}</span>);
  });
  return <nav class="crumbs">{out}</nav>;
};

/** The tabs of an org's pages (jobsets, channels, profiles, machines). */
export const OrgTabs: FC<{ org: string; on: OrgTab }> = ({ org, on }) => {
  const tab = (id: OrgTab, label: string, href: string) => (
    <a class={on === id ? "on" : ""} href={href}>
      {label}
    </a>
  );
  return (
    <nav class="tabs">
      {tab("jobsets", "Jobsets", `/${org}`)}
      {tab("channels", "Channels", `/${org}/channels`)}
      {tab("profiles", "Profiles", `/${org}/profiles`)}
      {tab("machines", "Machines", `/${org}/machines`)}
    </nav>
  );
};

/** Title row: heading, an optional line under it, and actions on the right. */
export const PageHead: FC<{ title: Child; sub?: Child; actions?: Child }> = (p) => (
  <div class="pagehead">
    <div>
      <h1>{p.title}</h1>
      {p.sub ? <div class="sub">{p.sub}</div> : null}
    </div>
    {p.actions ? (
      <div class="actions" id="actions">
        {p.actions}
      </div>
    ) : null}
  </div>
);

export interface OrgPageProps {
  /** The document title (" · flox" is added). */
  title: string;
  viewer: Viewer | null;
  org: string;
  tab: OrgTab;
  /** Crumbs below the org, the current page last; none on the org's own page. */
  trail?: Crumb[];
  heading: Child;
  sub?: Child;
  actions?: Child;
}

/** A page of an org: the frame, crumbs from Orgs through the org, the title row, then the org's tabs. */
export const OrgPage: FC<PropsWithChildren<OrgPageProps>> = (p) => {
  const trail = p.trail ?? [];
  const crumbs: Crumb[] = [
    { label: "Orgs", href: "/" },
    trail.length > 0 ? { label: p.org, href: `/${p.org}` } : { label: p.org },
    ...trail,
  ];
  return (
    <Layout title={p.title} viewer={p.viewer} crumbs={crumbs}>
      <PageHead title={p.heading} sub={p.sub} actions={p.actions} />
      <OrgTabs org={p.org} on={p.tab} />
      {p.children}
    </Layout>
  );
};
