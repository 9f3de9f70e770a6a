// Memberships give a user a role in an org.
import { and, asc, eq } from "drizzle-orm";
import type { Role } from "../../lib/api/orgs.js";
import type { Db } from "../db/open.js";
import { memberships, users } from "../db/schema.js";
import { NotFoundError } from "../errors.js";
import type { OrgRecord } from "./orgs.js";
import type { UserRecord } from "./users.js";

export interface MemberRecord {
  user: string;
  org: string;
  role: Role;
}

export function membershipRole(db: Db, orgId: number, userId: number): Role | undefined {
  return db
    .select({ role: memberships.role })
    .from(memberships)
    .where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId)))
    .get()?.role;
}

/** Adds the user to the org, or changes their role there. */
export function setMembership(db: Db, org: OrgRecord, user: UserRecord, role: Role): MemberRecord {
  db.insert(memberships)
    .values({ orgId: org.id, userId: user.id, role })
    .onConflictDoUpdate({ target: [memberships.orgId, memberships.userId], set: { role } })
    .run();
  return { user: user.name, org: org.name, role };
}

export function removeMembership(db: Db, org: OrgRecord, user: UserRecord): void {
  const result = db
    .delete(memberships)
    .where(and(eq(memberships.orgId, org.id), eq(memberships.userId, user.id)))
    .run();
  if (result.changes === 0) {
    throw new NotFoundError(`user "${user.name}" is not a member of org "${org.name}"`);
  }
}

export function listMembers(db: Db, org: OrgRecord): MemberRecord[] {
  return db
    .select({ user: users.name, role: memberships.role })
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId))
    .where(eq(memberships.orgId, org.id))
    .orderBy(asc(users.name))
    .all()
    .map((m) => ({ user: m.user, org: org.name, role: m.role }));
}

/** Ids of the orgs where the user has any role. */
export function orgIdsOfUser(db: Db, userId: number): number[] {
  return db
    .select({ orgId: memberships.orgId })
    .from(memberships)
    .where(eq(memberships.userId, userId))
    .all()
    .map((m) => m.orgId);
}
