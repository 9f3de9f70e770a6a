// The stylesheet and script at content-hashed URLs (/-/style.<hash>.css, /-/app.<hash>.js), cached for good.
import { createHash } from "node:crypto";
import { Hono } from "hono";
import { clientScript } from "./client.js";
import { stylesheet } from "./style.js";

const hash = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 12);

const css = { body: stylesheet.trim(), type: "text/css; charset=utf-8" };
const js = { body: clientScript.trim(), type: "text/javascript; charset=utf-8" };

/** What the layout links to; a new build of the text is a new URL, so browsers never hold a stale copy. */
export const assetUrls = {
  style: `/-/style.${hash(css.body)}.css`,
  script: `/-/app.${hash(js.body)}.js`,
};

export function assetRoutes(): Hono {
  const serve = (asset: { body: string; type: string }) => (c: import("hono").Context) =>
    c.body(asset.body, 200, {
      "content-type": asset.type,
      "cache-control": "public, max-age=31536000, immutable",
      "x-content-type-options": "nosniff",
    });
  return new Hono().get(assetUrls.style, serve(css)).get(assetUrls.script, serve(js));
}
