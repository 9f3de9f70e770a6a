// Who may do what: a token's role in an org, and the checks routes call before acting.
import type { Role } from "../../lib/api/orgs.js";
import { getBuild, noSuchBuild, orgIdsOfBuild } from "../builds/builds.js";
import type { Db } from "../db/open.js";
import { ForbiddenError, NotFoundError, UnauthenticatedError } from "../errors.js";
import { membershipRole, orgIdsOfUser } from "./memberships.js";
import { findOrg, listOrgs, noSuchOrg, type OrgRecord } from "./orgs.js";
import type { TokenRecord } from "./tokens.js";

const rank: Record<Role, number> = { reader: 1, member: 2, owner: 3 };

export function roleAtLeast(role: Role | null | undefined, needed: Role): boolean {
  return role != null && rank[role] >= rank[needed];
}

/** The token's role in the org: admin acts as owner everywhere; builder and machine tokens have none. */
export async function roleIn(db: Db, token: TokenRecord, org: Pick<OrgRecord, "id">): Promise<Role | null> {
  switch (token.scope) {
    case "admin":
      return "owner";
    case "org":
      return token.orgId === org.id ? token.role : null;
    case "user":
      return token.userId == null ? null : ((await membershipRole(db, org.id, token.userId)) ?? null);
    case "builder":
    case "machine":
      return null;
  }
}

/** Ids of the orgs this token may read, or undefined for all of them (admin). */
export async function readableOrgIds(db: Db, token: TokenRecord): Promise<number[] | undefined> {
  switch (token.scope) {
    case "admin":
      return undefined;
    case "org":
      return token.orgId == null ? [] : [token.orgId];
    case "user":
      return token.userId == null ? [] : await orgIdsOfUser(db, token.userId);
    case "builder":
    case "machine":
      return [];
  }
}

/**
 * May this token (null: nobody logged in) read the org's CI, channels and build logs? A role there, or the org is
 * public. Its repo, pushes, members, tokens, profiles and machines still need a role (`requireRole`).
 */
export async function mayRead(
  db: Db,
  token: TokenRecord | null | undefined,
  org: Pick<OrgRecord, "id" | "public">,
): Promise<boolean> {
  return org.public || (token != null && roleAtLeast(await roleIn(db, token, org), "reader"));
}

/** Which of these orgs this token (null: nobody) may read; undefined for an admin, who reads every org. */
export async function readableAmong(
  db: Db,
  token: TokenRecord | null | undefined,
  orgIds: number[],
): Promise<number[] | undefined> {
  if (token?.scope === "admin") return undefined;
  if (orgIds.length === 0) return [];
  const readable: number[] = [];
  for (const org of await listOrgs(db, orgIds)) if (await mayRead(db, token, org)) readable.push(org.id);
  return readable;
}

/**
 * Where a token (null: nobody logged in) stands with a build. A build is shared by every org whose evaluations
 * have a job on it, so the answer is per org: the one rule the API, the build page and the builders list ask.
 */
export interface BuildRole {
  /** The orgs whose evaluations want the build. */
  orgIds: number[];
  /** Of these, the orgs whose jobs it may read, public ones included; undefined for an admin, who reads all. */
  readable: number[] | undefined;
  /** Its own role in each of these orgs (no entry: none; public orgs give no role). */
  roles: Map<number, Role>;
}

export async function buildRole(
  db: Db,
  token: TokenRecord | null | undefined,
  buildId: number,
): Promise<BuildRole> {
  const orgIds = await orgIdsOfBuild(db, buildId);
  const roles = new Map<number, Role>();
  if (token != null) {
    for (const id of orgIds) {
      const role = await roleIn(db, token, { id });
      if (role) roles.set(id, role);
    }
  }
  return { orgIds, readable: await readableAmong(db, token, orgIds), roles };
}

/** May it read the build (its log, say): is one of the orgs that want it readable to it, or is it an admin's? */
export function mayReadBuild(standing: BuildRole): boolean {
  return standing.orgIds.length > 0 && (standing.readable === undefined || standing.readable.length > 0);
}

/** The orgs of the build where the token holds at least `needed` itself (a public org alone is not enough). */
export function orgsWithRole(standing: BuildRole, needed: Role): number[] {
  return standing.orgIds.filter((id) => roleAtLeast(standing.roles.get(id), needed));
}

/** What a token may do with a build: the orgs it reads and steers among those whose jobs want the build. */
export interface BuildAccess {
  /** Orgs whose jobs the answer may name (undefined: all, an admin). */
  visible: number[] | undefined;
  /** Orgs whose want a cancel withdraws and a restart reinstates (undefined: all, an admin). */
  steering: number[] | undefined;
}

/**
 * The build's access, if this token has at least `needed` in one of the orgs whose jobs want it; to read, a public
 * org that wants it is enough (and no token is needed then). A token that may read none of them gets the very
 * answer a nonexistent build gets: a shared build must not tell a stranger it exists.
 */
export async function requireBuildRole(
  db: Db,
  token: TokenRecord | null,
  buildId: number,
  needed: Role,
): Promise<BuildAccess> {
  await getBuild(db, buildId);
  const standing = await buildRole(db, token, buildId);
  const visible = standing.readable;
  if (visible === undefined) return { visible: undefined, steering: undefined };
  if (visible.length === 0 && token == null) {
    throw new UnauthenticatedError(
      `build ${buildId} is not public; send \`Authorization: Bearer <token>\` with a token that may read one of its orgs`,
    );
  }
  if (visible.length === 0) throw new NotFoundError(noSuchBuild(buildId));
  const steering = orgsWithRole(standing, needed);
  if (steering.length === 0 && needed !== "reader") {
    throw new ForbiddenError(
      `this token may not steer build ${buildId}: it needs the ${needed} role in an org whose evaluations want it`,
    );
  }
  return { visible, steering };
}

/**
 * What a caller who may not read something of an org gets, whether or not it exists: with a token, the 404 of an
 * org that does not exist; without one, a 401 asking for a token (so nobody can probe which private orgs exist).
 */
export function unreadable(token: TokenRecord | null | undefined, notFound: () => Error): Error {
  if (token != null) return notFound();
  return new UnauthenticatedError(
    "this is not public, or not here; send `Authorization: Bearer <token>` with a token that may read its org",
  );
}

/** The org named, if this token (null: nobody) may read it; otherwise `unreadable`'s answer. */
export async function getReadableOrg(
  db: Db,
  token: TokenRecord | null | undefined,
  name: string,
): Promise<OrgRecord> {
  const org = await findOrg(db, name);
  if (org && (await mayRead(db, token, org))) return org;
  throw unreadable(token, () => noSuchOrg(name));
}

/** Ids of the orgs where this token is owner, or undefined for all of them (admin). */
export async function ownedOrgIds(db: Db, token: TokenRecord): Promise<number[] | undefined> {
  const ids = await readableOrgIds(db, token);
  if (ids === undefined) return undefined;
  const owned: number[] = [];
  for (const id of ids) if ((await roleIn(db, token, { id })) === "owner") owned.push(id);
  return owned;
}

const verbs: Record<Role, string> = {
  reader: "read",
  member: "push to",
  owner: "manage",
};

export async function requireRole(
  db: Db,
  token: TokenRecord,
  org: OrgRecord,
  needed: Role,
  what?: string,
): Promise<Role> {
  const role = await roleIn(db, token, org);
  if (roleAtLeast(role, needed)) return role as Role;
  // No role in a private org: answer as if it did not exist, so that no token can tell the two apart.
  if (role == null && !org.public) throw noSuchOrg(org.name);
  const have = role ? `its role there is ${role}` : "it has no role there";
  throw new ForbiddenError(
    `this token may not ${what ?? verbs[needed]} org "${org.name}" (${have}; ${needed} is needed); ask an owner of "${org.name}" for access`,
  );
}

export function requireAdmin(token: TokenRecord, what: string): void {
  if (token.scope !== "admin") {
    throw new ForbiddenError(`only an admin token may ${what}; this is a "${token.scope}" token`);
  }
}
