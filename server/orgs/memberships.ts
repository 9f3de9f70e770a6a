// Memberships give a user a role in an org.
import { and, asc, eq } from "drizzle-orm";
import type { Role } from "../../lib/api/orgs.js";
import type { Db } from "../db/open.js";
import { first } from "../db/raw.js";
import { memberships, users } from "../db/tables.js";
import { NotFoundError } from "../errors.js";
import type { OrgRecord } from "./orgs.js";
import type { UserRecord } from "./users.js";

export interface MemberRecord {
  user: string;
  org: string;
  role: Role;
}

export async function membershipRole(db: Db, orgId: number, userId: number): Promise<Role | undefined> {
  return (
    await db
      .select({ role: memberships.role })
      .from(memberships)
      .where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId)))
      .then(first)
  )?.role;
}

/** Adds the user to the org, or changes their role there. */
export async function setMembership(
  db: Db,
  org: OrgRecord,
  user: UserRecord,
  role: Role,
): Promise<MemberRecord> {
  await db
    .insert(memberships)
    .values({ orgId: org.id, userId: user.id, role })
    .onConflictDoUpdate({ target: [memberships.orgId, memberships.userId], set: { role } });
  return { user: user.name, org: org.name, role };
}

export async function removeMembership(db: Db, org: OrgRecord, user: UserRecord): Promise<void> {
  const result = await db
    .delete(memberships)
    .where(and(eq(memberships.orgId, org.id), eq(memberships.userId, user.id)))
    .returning({ role: memberships.role });
  if (result.length === 0) {
    throw new NotFoundError(`user "${user.name}" is not a member of org "${org.name}"`);
  }
}

export async function listMembers(db: Db, org: OrgRecord): Promise<MemberRecord[]> {
  return (
    await db
      .select({ user: users.name, role: memberships.role })
      .from(memberships)
      .innerJoin(users, eq(users.id, memberships.userId))
      .where(eq(memberships.orgId, org.id))
      .orderBy(asc(users.name))
  ).map((m) => ({ user: m.user, org: org.name, role: m.role }));
}

/** Ids of the orgs where the user has any role. */
export async function orgIdsOfUser(db: Db, userId: number): Promise<number[]> {
  return (
    await db.select({ orgId: memberships.orgId }).from(memberships).where(eq(memberships.userId, userId))
  ).map((m) => m.orgId);
}
