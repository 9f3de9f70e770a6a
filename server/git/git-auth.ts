// Who may fetch or push: HTTP Basic with the token as password (username ignored), checked before git runs.
import type { Role } from "../../lib/api/orgs.js";
import type { Db } from "../db/open.js";
import { UnauthenticatedError } from "../errors.js";
import type { OrgRecord } from "../orgs/orgs.js";
import { roleAtLeast, roleIn } from "../orgs/permissions.js";
import { authenticateSecret, type TokenRecord } from "../orgs/tokens.js";

export type GitAuthResult<T> =
  | { ok: true; value: T }
  | { ok: false; status: 401 | 403 | 404; message: string };

/** The password of `Authorization: Basic …`, or the token of `Authorization: Bearer …` (for http.extraHeader). */
export function credentialFrom(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const basic = /^Basic[ ]+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (basic?.[1]) {
    const pair = Buffer.from(basic[1], "base64").toString("utf8");
    const colon = pair.indexOf(":");
    const password = colon < 0 ? "" : pair.slice(colon + 1);
    return password === "" ? undefined : password;
  }
  const bearer = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return bearer?.[1];
}

/** Step one, before the org is even looked up (so strangers cannot probe which orgs exist): who is this? */
export async function authenticateGit(
  db: Db,
  authorization: string | undefined,
): Promise<GitAuthResult<TokenRecord>> {
  const secret = credentialFrom(authorization);
  if (!secret) {
    return {
      ok: false,
      status: 401,
      message:
        "flox needs a token: use it as the password (any username), e.g. http://x:TOKEN@HOST/org/nixexprs.git",
    };
  }
  try {
    return { ok: true, value: await authenticateSecret(db, secret) };
  } catch (err) {
    if (err instanceof UnauthenticatedError) return { ok: false, status: 401, message: err.message };
    throw err;
  }
}

/** Step two: may this token fetch from (reader+) or push to (member+) the org's repo? (404: it may not know the org.) */
export async function authorizeGit(
  db: Db,
  token: TokenRecord,
  org: OrgRecord,
  access: "fetch" | "push",
): Promise<GitAuthResult<Role>> {
  const role = await roleIn(db, token, org);
  const needed: Role = access === "push" ? "member" : "reader";
  if (roleAtLeast(role, needed)) return { ok: true, value: role as Role };
  // A private org where the token has no role must look like one that does not exist (the caller says so).
  if (role == null && !org.public)
    return { ok: false, status: 404, message: `there is no org "${org.name}"` };
  const have = role ? `only ${role}` : "no role";
  const verb = access === "push" ? "push to" : "fetch from";
  return {
    ok: false,
    status: 403,
    message: `this token may not ${verb} ${org.name}/nixexprs.git: it has ${have} there and ${needed} is needed; ask an owner of "${org.name}" for a ${needed} token`,
  };
}
