// Action POSTs: the Origin check (hono's csrf()) and the session's CSRF token in the form, both required.
import type { MiddlewareHandler } from "hono";
import { csrf } from "hono/csrf";
import { ForbiddenError } from "../errors.js";
import { FORM_BODY_LIMIT, limitBody } from "../http/body-limit.js";
import { csrfMatches } from "./sessions.js";
import { requireViewer, type WebEnv } from "./viewer.js";

/** Refuses a cross-site form post (Origin / Sec-Fetch-Site not this site) with 403. */
export const sameOrigin = (): MiddlewareHandler<WebEnv> => csrf() as unknown as MiddlewareHandler<WebEnv>;

/**
 * For every action POST with a session: a same-origin request and the session's `_csrf` form field. A Bearer viewer
 * needs neither: browsers never send that header on their own. Mount after `resolveViewer`.
 */
export function requireCsrf(): MiddlewareHandler<WebEnv>[] {
  const checkOrigin = sameOrigin();
  // Only a session rides along by itself (the cookie); a Bearer header is never sent without the client's say.
  const origin: MiddlewareHandler<WebEnv> = (c, next) =>
    c.get("viewer")?.session || !c.get("viewer") ? checkOrigin(c, next) : next();
  const token: MiddlewareHandler<WebEnv> = async (c, next) => {
    const viewer = requireViewer(c);
    if (viewer.session) {
      // Too large is its own answer (413); a body that is no form at all only lacks the token.
      await limitBody(
        c,
        FORM_BODY_LIMIT,
        "the form",
        "forms on these pages are small; reload the page and send it again",
      );
      const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      if (!csrfMatches(viewer.session, form._csrf)) {
        throw new ForbiddenError(
          "this form did not carry this session's CSRF token (an old page, or a form from another site); reload the page and try again",
        );
      }
    }
    await next();
  };
  return [origin, token];
}
