// Domain records → the API's JSON shapes (lib/api/).
import type { Member, Org, User } from "../../lib/api/orgs.js";
import type { Push } from "../../lib/api/pushes.js";
import type { TokenInfo } from "../../lib/api/tokens.js";
import type { MemberRecord } from "../domain/memberships.js";
import type { OrgRecord } from "../domain/orgs.js";
import type { PushRecord } from "../domain/pushes.js";
import type { TokenRecord } from "../domain/tokens.js";
import type { UserRecord } from "../domain/users.js";

/** `origin` is how the client reached us (scheme://host:port), so the clone URL works from where it stands. */
export const presentOrg = (org: OrgRecord, origin: string): Org => ({
  name: org.name,
  displayName: org.displayName,
  public: org.public,
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

export const presentPush = (p: PushRecord): Push => ({ ...p, pushOptions: [...p.pushOptions] });
