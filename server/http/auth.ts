// Bearer-token authentication for the API.
import type { Context, MiddlewareHandler } from "hono";
import { sameSecret } from "../../lib/same-secret.js";
import { UnauthenticatedError } from "../errors.js";
import { authenticateSecret, type TokenRecord } from "../orgs/tokens.js";
import type { AppContext, AppEnv } from "./context.js";

function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? "");
  return m?.[1];
}

const noToken = () =>
  new UnauthenticatedError(
    "no token given; send `Authorization: Bearer <token>` (the CLI reads --token, FLOX_TOKEN or `flox login`)",
  );

/** Requires a live token and stores it as `c.get("token")`. */
export function requireToken(ctx: AppContext): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const secret = bearer(c.req.header("authorization"));
    if (!secret) throw noToken();
    c.set("token", await authenticateSecret(ctx.db, secret));
    await next();
  };
}

/**
 * For what a public org shows anyone: sets `token` when the request carries one (an unknown or revoked one is still
 * a 401) and lets a request without one through; read it with `tokenOrNull`.
 */
export function optionalToken(ctx: AppContext): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const secret = bearer(c.req.header("authorization"));
    if (secret) c.set("token", await authenticateSecret(ctx.db, secret));
    await next();
  };
}

/** The token `optionalToken` found, or null for an anonymous request. */
export function tokenOrNull(c: Context<AppEnv>): TokenRecord | null {
  return (c.get("token") as TokenRecord | undefined) ?? null;
}

/** Requires the hook secret of this server run (only the git hooks know it). */
export function requireHookSecret(ctx: AppContext): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const secret = bearer(c.req.header("authorization"));
    if (!secret) throw noToken();
    if (!sameSecret(secret, ctx.hookSecret)) {
      throw new UnauthenticatedError(
        "this endpoint is for the git hooks of this server run; the hook secret given is not the current one",
        "bad_hook_secret",
      );
    }
    await next();
  };
}
