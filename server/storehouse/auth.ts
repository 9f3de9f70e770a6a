// Who may read and write the Storehouse. `nix copy` can only authenticate through netrc, which gives HTTP Basic,
// so the token is taken as a Basic password as well as a Bearer token.
import type { Context, MiddlewareHandler } from "hono";
import { ForbiddenError, UnauthenticatedError } from "../errors.js";
import { credentialFrom } from "../git/git-auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { authenticateSecret, type TokenRecord } from "../orgs/tokens.js";
import type { ReadGrants } from "./read-grants.js";

const WRITERS = new Set(["builder", "admin"]);

async function authenticate(
  ctx: AppContext,
  authorization: string | undefined,
  purpose: string,
): Promise<TokenRecord> {
  const secret = credentialFrom(authorization);
  if (!secret) {
    throw new UnauthenticatedError(
      `${purpose} needs a token: with nix, put 'machine HOST login x password TOKEN' in a netrc file and pass --option netrc-file FILE; otherwise send 'Authorization: Bearer TOKEN'`,
    );
  }
  return authenticateSecret(ctx.db, secret);
}

/**
 * Any live token may read a private cache; a public one needs none. Each "yes" of a private cache goes into
 * `grants`, for the fast path's next requests with the same header (read-grants.ts).
 */
export function cacheReader(
  ctx: AppContext,
  privateCache: boolean,
  grants?: ReadGrants,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const authorization = c.req.header("authorization");
    // The server itself reads its private cache with the hook secret (its chroot store substitutes from it).
    const own = privateCache && credentialFrom(authorization) === ctx.hookSecret;
    if (privateCache && !own) {
      c.set("token", await authenticate(ctx, authorization, "this private cache"));
    }
    if (privateCache && authorization !== undefined) grants?.grant(authorization);
    await next();
  };
}

/**
 * The token a per-org read (a channel, a build log) carries, as Bearer or as the netrc Basic password; null when it
 * carries none (or the server's own hook secret, which is no token). An unknown or revoked one is a 401.
 */
export async function orgReaderToken(ctx: AppContext, c: Context<AppEnv>): Promise<TokenRecord | null> {
  const secret = credentialFrom(c.req.header("authorization"));
  if (!secret || secret === ctx.hookSecret) return null;
  return authenticateSecret(ctx.db, secret);
}

/**
 * What a request that may not read an org's channel or log gets: without a token, a 401 that says how to send one
 * (whether or not the thing exists: anonymous callers cannot probe private orgs); with one, the caller's 404.
 */
export function refuseOrgRead(token: TokenRecord | null, what: string, notFound: () => Response): Response {
  if (token) return notFound();
  throw new UnauthenticatedError(
    `${what} is not public: send a token that may read its org, with nix as 'machine HOST login x password TOKEN' in a netrc file named by the netrc-file setting, otherwise as 'Authorization: Bearer TOKEN'`,
  );
}

/** Uploads need a builder or admin token: what lands here is signed with the server's key and trusted by every client. */
export function cacheWriter(ctx: AppContext): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = await authenticate(ctx, c.req.header("authorization"), "uploading to the Storehouse");
    if (!WRITERS.has(token.scope)) {
      throw new ForbiddenError(
        `uploading to the Storehouse needs a builder or admin token; this is a "${token.scope}" token (an admin makes one with: flox token create --builder)`,
      );
    }
    c.set("token", token);
    await next();
  };
}
