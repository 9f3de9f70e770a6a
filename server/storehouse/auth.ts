// Who may read and write the Storehouse. `nix copy` can only authenticate through netrc, which gives HTTP Basic,
// so the token is taken as a Basic password as well as a Bearer token.
import type { MiddlewareHandler } from "hono";
import { authenticateSecret, type TokenRecord } from "../domain/tokens.js";
import { ForbiddenError, UnauthenticatedError } from "../errors.js";
import { credentialFrom } from "../git/git-auth.js";
import type { AppContext, AppEnv } from "../routes/env.js";

const WRITERS = new Set(["builder", "admin"]);

function authenticate(ctx: AppContext, authorization: string | undefined, purpose: string): TokenRecord {
  const secret = credentialFrom(authorization);
  if (!secret) {
    throw new UnauthenticatedError(
      `${purpose} needs a token: with nix, put 'machine HOST login x password TOKEN' in a netrc file and pass --option netrc-file FILE; otherwise send 'Authorization: Bearer TOKEN'`,
    );
  }
  return authenticateSecret(ctx.db, secret);
}

/** Any live token may read a private cache; a public one needs none. */
export function cacheReader(ctx: AppContext, privateCache: boolean): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    // The server itself reads its private cache with the hook secret (its chroot store substitutes from it).
    const own = privateCache && credentialFrom(c.req.header("authorization")) === ctx.hookSecret;
    if (privateCache && !own) {
      c.set("token", authenticate(ctx, c.req.header("authorization"), "this private cache"));
    }
    await next();
  };
}

/** Uploads need a builder or admin token: what lands here is signed with the server's key and trusted by every client. */
export function cacheWriter(ctx: AppContext): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = authenticate(ctx, c.req.header("authorization"), "uploading to the Storehouse");
    if (!WRITERS.has(token.scope)) {
      throw new ForbiddenError(
        `uploading to the Storehouse needs a builder or admin token; this is a "${token.scope}" token (an admin makes one with: flox token create --builder)`,
      );
    }
    c.set("token", token);
    await next();
  };
}
