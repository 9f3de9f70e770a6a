// Action POSTs: the Origin check (hono's csrf()) and the session's CSRF token in the form, both required.
import type { MiddlewareHandler } from "hono";
import { csrf } from "hono/csrf";
import { ForbiddenError } from "../errors.js";
import { csrfMatches } from "./sessions.js";
import { requireViewer, type WebEnv } from "./viewer.js";

/** Refuses a cross-site form post (Origin / Sec-Fetch-Site not this site) with 403. */
export const sameOrigin = (): MiddlewareHandler<WebEnv> => csrf() as unknown as MiddlewareHandler<WebEnv>;

/**
 * For every action POST: a logged-in viewer, a same-origin request, and — for a session — its `_csrf` form field.
 * A Bearer viewer needs no CSRF token: browsers never send that header on their own.
 */
export function requireCsrf(): MiddlewareHandler<WebEnv>[] {
  const origin = sameOrigin();
  const token: MiddlewareHandler<WebEnv> = async (c, next) => {
    const viewer = requireViewer(c);
    if (viewer.session) {
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
