// Who may open a relayed daemon connection, decided before a single daemon byte: a member or owner of the org (a
// user token with that role, an org token, an admin), or a machine token of an org that allows machine builds.
import type { Db } from "../db/open.js";
import { ForbiddenError, InvalidInputError, UnauthenticatedError } from "../errors.js";
import { orgIdsOfUser } from "../orgs/memberships.js";
import { findOrg, listOrgs, noSuchOrg, type OrgRecord } from "../orgs/orgs.js";
import { roleAtLeast, roleIn } from "../orgs/permissions.js";
import { authenticateSecret, type TokenRecord } from "../orgs/tokens.js";

export interface RelayGrant {
  token: TokenRecord;
  org: OrgRecord;
}

function bearer(header: string | undefined): string | undefined {
  return /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? "")?.[1];
}

/** The org the connection builds for: `?org=NAME`, else the one the token belongs to, else its only org. */
async function chooseOrg(db: Db, token: TokenRecord, asked: string | null): Promise<OrgRecord> {
  if (asked) {
    const org = await findOrg(db, asked);
    if (!org) throw noSuchOrg(asked);
    return org;
  }
  if (token.orgId != null) {
    const [org] = await listOrgs(db, [token.orgId]);
    if (org) return org;
  }
  if (token.scope === "user" && token.userId != null) {
    const ids = await orgIdsOfUser(db, token.userId);
    if (ids.length === 1) {
      const [org] = await listOrgs(db, ids);
      if (org) return org;
    }
  }
  throw new InvalidInputError(
    "say which org the daemon connection builds for: `GET /nix-daemon?org=NAME` (flox daemon --org NAME)",
    "org_required",
  );
}

/** Throws the error to answer (401/403/404/400) when the request may not open a daemon connection. */
export async function authorizeRelay(
  db: Db,
  authorization: string | undefined,
  askedOrg: string | null,
): Promise<RelayGrant> {
  const secret = bearer(authorization);
  if (!secret) {
    throw new UnauthenticatedError(
      "no token given; send `Authorization: Bearer <token>` (flox daemon reads --daemon-token, FLOX_TOKEN or `flox login`)",
    );
  }
  const token = await authenticateSecret(db, secret);
  const org = await chooseOrg(db, token, askedOrg);
  if (token.scope === "machine") {
    if (token.orgId !== org.id) throw noSuchOrg(org.name);
    if (!org.machineBuilds) {
      throw new ForbiddenError(
        `machine tokens of org "${org.name}" may not use the shared Nix daemon; an owner can allow it with: flox org set ${org.name} --machine-builds on`,
      );
    }
    return { token, org };
  }
  const role = await roleIn(db, token, org);
  if (role == null && !org.public) throw noSuchOrg(org.name);
  if (!roleAtLeast(role, "member")) {
    throw new ForbiddenError(
      `this token may not build through the shared Nix daemon for org "${org.name}" (${role ? `its role there is ${role}` : "it has no role there"}; member is needed); ask an owner of "${org.name}" for access`,
    );
  }
  return { token, org };
}
