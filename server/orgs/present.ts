// Domain records → the API's JSON shapes (lib/api/).
import type { Member, Org, User } from "../../lib/api/orgs.js";
import type { TokenInfo } from "../../lib/api/tokens.js";
import type { MemberRecord } from "./memberships.js";
import type { OrgRecord } from "./orgs.js";
import type { TokenRecord } from "./tokens.js";
import type { UserRecord } from "./users.js";

/** `origin` is how the client reached us (scheme://host:port), so the clone URL works from where it stands. */
export const presentOrg = (org: OrgRecord, origin: string): Org => ({
  name: org.name,
  displayName: org.displayName,
  public: org.public,
  machineBuilds: org.machineBuilds,
  createdAt: org.createdAt,
  repoUrl: `${origin}/${org.name}/nixexprs.git`,
});

export const presentUser = (user: UserRecord): User => ({ name: user.name, createdAt: user.createdAt });

export const presentMember = (m: MemberRecord): Member => ({ user: m.user, org: m.org, role: m.role });

export const presentToken = (t: TokenRecord): TokenInfo => ({
  id: t.id,
  name: t.name,
  scope: t.scope,
  org: t.org,
  role: t.role,
  user: t.user,
  prefix: t.prefix,
  createdAt: t.createdAt,
  lastUsedAt: t.lastUsedAt,
  revokedAt: t.revokedAt,
});
