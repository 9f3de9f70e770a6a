// Who is looking: the session cookie's token, or a Bearer token (scripts, curl), with the API's roles.
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { Role } from "../../lib/api/orgs.js";
import { NotFoundError, UnauthenticatedError } from "../errors.js";
import type { AppContext } from "../http/context.js";
import { findOrg, type OrgRecord } from "../orgs/orgs.js";
import { roleAtLeast, roleIn } from "../orgs/permissions.js";
import { authenticateSecret, type TokenRecord } from "../orgs/tokens.js";
import { findSession, type WebSession } from "./sessions.js";

export const SESSION_COOKIE = "flox_session";

export interface Viewer {
  token: TokenRecord;
  /** Absent when the request carried a Bearer token instead of the cookie (no CSRF token then: none is needed). */
  session?: WebSession;
}

/** Hono variables of the web routes. */
export interface WebEnv {
  Variables: { viewer: Viewer | null };
}

export type WebContext = Context<WebEnv>;

/** Sets `viewer` (null when nobody is logged in). A Bearer token that is unknown or revoked is a 401, as in the API. */
export function resolveViewer(ctx: AppContext): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const bearer = /^Bearer[ ]+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1];
    if (bearer) {
      c.set("viewer", { token: await authenticateSecret(ctx.db, bearer) });
    } else {
      const cookie = getCookie(c, SESSION_COOKIE);
      const session = cookie ? await findSession(ctx.db, cookie) : undefined;
      c.set("viewer", session ? { token: session.token, session } : null);
    }
    await next();
  };
}

/** Thrown for a page that needs a login; the web error handler turns it into a redirect to /login (or a 401). */
export class LoginRequired extends UnauthenticatedError {
  override name = "LoginRequired";
}

/** The viewer, or a LoginRequired error. */
export function requireViewer(c: WebContext): Viewer {
  const viewer = c.get("viewer");
  if (!viewer) {
    throw new LoginRequired("log in first: GET /login, or send `Authorization: Bearer <token>`");
  }
  return viewer;
}

/**
 * The org and the viewer's role in it, when the viewer has at least `needed`. An org the viewer may not read is
 * a 404, the same as one that does not exist: private orgs are invisible.
 */
export async function orgForViewer(
  ctx: AppContext,
  c: WebContext,
  name: string,
  needed: Role = "reader",
): Promise<{ org: OrgRecord; role: Role; viewer: Viewer }> {
  const viewer = requireViewer(c);
  const org = await findOrg(ctx.db, name);
  const role = org ? await roleIn(ctx.db, viewer.token, org) : null;
  if (!org || !role || !roleAtLeast(role, needed)) {
    throw new NotFoundError(`there is no org "${name}" that you can see`);
  }
  return { org, role, viewer };
}

/**
 * For the pages a public org shows anyone (its CI, channels and badges): the org, the viewer (null when nobody is
 * logged in) and their role there (null without one). Any other org goes through `orgForViewer`: nobody logged in
 * gets the login page and a viewer without a role the 404, for a private org exactly as for one that does not exist.
 */
export async function readableOrgForViewer(
  ctx: AppContext,
  c: WebContext,
  name: string,
): Promise<{ org: OrgRecord; role: Role | null; viewer: Viewer | null }> {
  const org = await findOrg(ctx.db, name);
  if (!org?.public) return orgForViewer(ctx, c, name);
  const viewer = c.get("viewer");
  return { org, role: viewer ? await roleIn(ctx.db, viewer.token, org) : null, viewer };
}
