// The stylesheet, script and icon at content-hashed URLs (/-/style.<hash>.css, /-/app.<hash>.js, /-/icon.<hash>.svg),
// cached for good.
import { createHash } from "node:crypto";
import { Hono } from "hono";
import { clientScript } from "./client.js";
import { stylesheet } from "./style.js";

const hash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 12);

const css = { body: stylesheet.trim(), type: "text/css; charset=utf-8" };
const js = { body: clientScript.trim(), type: "text/javascript; charset=utf-8" };
const icon = {
  body: `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#5c7cfa"/><stop offset="1" stop-color="#22b8cf"/></linearGradient></defs><rect width="32" height="32" rx="8" fill="url(#g)"/><path d="M10 23V9h12M10 16h9" stroke="#fff" stroke-width="3.2" fill="none" stroke-linecap="round"/></svg>`,
  type: "image/svg+xml",
};

/** What the layout links to; a new build of the text is a new URL, so browsers never hold a stale copy. */
export const assetUrls = {
  style: `/-/style.${hash(css.body)}.css`,
  script: `/-/app.${hash(js.body)}.js`,
  icon: `/-/icon.${hash(icon.body)}.svg`,
};

export function assetRoutes(): Hono {
  const serve = (asset: { body: string; type: string }) => (c: import("hono").Context) =>
    c.body(asset.body, 200, {
      "content-type": asset.type,
      "cache-control": "public, max-age=31536000, immutable",
      "x-content-type-options": "nosniff",
    });
  return new Hono()
    .get(assetUrls.style, serve(css))
    .get(assetUrls.script, serve(js))
    .get(assetUrls.icon, serve(icon))
    .get("/favicon.ico", (c) => c.redirect(assetUrls.icon, 301));
}
