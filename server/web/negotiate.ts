// One URL, two answers: the page for browsers, its data (the /api/v1 shape) for `Accept: application/json`.
import type { Context } from "hono";
import type { HtmlEscapedString } from "hono/utils/html";

/** True when the client asks for JSON rather than HTML (`Accept: application/json`, no `text/html`). */
export function wantsJson(c: Context): boolean {
  const accept = c.req.header("accept") ?? "";
  return /\bapplication\/json\b/i.test(accept) && !/\btext\/html\b/i.test(accept);
}

/** Answers `data` as JSON when asked for, else the page `render` makes from it. */
export function respond<T extends object>(
  c: Context,
  data: T,
  render: (data: T) => HtmlEscapedString | Promise<HtmlEscapedString>,
) {
  c.header("vary", "Accept, Cookie");
  if (wantsJson(c)) return c.json(data);
  pageHeaders(c);
  return c.html(render(data));
}

/** A browser asking for a page (not an API, cache or channel client): gets HTML errors. */
export function wantsHtml(c: Context): boolean {
  const p = c.req.path;
  if (p.startsWith("/api/") || p.startsWith("/cache/") || p.startsWith("/channels/")) return false;
  return /\btext\/html\b/i.test(c.req.header("accept") ?? "");
}

/**
 * Headers of every HTML page: no caching (pages show live state and the viewer's rights), and a strict CSP —
 * scripts and styles from this site only, no inline script, no framing — so that even an escaping mistake
 * could not run a script.
 */
export function pageHeaders(c: Context): void {
  c.header("cache-control", "no-store");
  c.header(
    "content-security-policy",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  );
  c.header("x-content-type-options", "nosniff");
  c.header("referrer-policy", "same-origin");
}
