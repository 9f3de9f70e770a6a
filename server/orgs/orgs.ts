// Orgs: each one owns exactly one bare repo, created together with its row.
import { asc, eq, inArray } from "drizzle-orm";
import type { CreateOrgBody } from "../../lib/api/orgs.js";
import type { Db } from "../db/open.js";
import { first, one } from "../db/raw.js";
import { orgs } from "../db/tables.js";
import type { DomainContext } from "../domain-context.js";
import { ConflictError, InvalidInputError, NotFoundError } from "../errors.js";
import { createRepo } from "../git/create-repo.js";

export type OrgRecord = typeof orgs.$inferSelect;

export async function findOrg(db: Db, name: string): Promise<OrgRecord | undefined> {
  return await db.select().from(orgs).where(eq(orgs.name, name)).then(first);
}

/**
 * The answer for an org that does not exist, and for a private one the caller may not read: the two must not be
 * told apart, or any token could probe which org names exist.
 */
export function noSuchOrg(name: string): NotFoundError {
  return new NotFoundError(`there is no org "${name}"; \`flox org list\` shows the ones you can see`);
}

export async function getOrg(db: Db, name: string): Promise<OrgRecord> {
  const org = await findOrg(db, name);
  if (!org) throw noSuchOrg(name);
  return org;
}

/** Makes an org public or private. Who may is the route's business (admin or owner). */
export async function setOrgVisibility(db: Db, org: OrgRecord, isPublic: boolean): Promise<OrgRecord> {
  return (
    (await db.update(orgs).set({ public: isPublic }).where(eq(orgs.id, org.id)).returning().then(one)) ?? org
  );
}

/** Lets the org's machine tokens use the shared Nix daemon, or not. Who may is the route's business (owner). */
export async function setMachineBuilds(db: Db, org: OrgRecord, on: boolean): Promise<OrgRecord> {
  const [row] = await db.update(orgs).set({ machineBuilds: on }).where(eq(orgs.id, org.id)).returning();
  return row ?? org;
}

export async function listOrgs(db: Db, ids?: number[]): Promise<OrgRecord[]> {
  return await db
    .select()
    .from(orgs)
    .where(ids ? inArray(orgs.id, ids) : undefined)
    .orderBy(asc(orgs.name));
}

/** First path segments the server uses itself: an org of that name would have its web pages shadowed. */
export const reservedOrgNames: readonly string[] = ["api", "cache", "channels", "login", "logout"];

/** Creates the org and its empty repo (with hooks). The repo comes first so that no org exists without one. */
export async function createOrg(ctx: DomainContext, input: CreateOrgBody): Promise<OrgRecord> {
  if (reservedOrgNames.includes(input.name)) {
    throw new InvalidInputError(
      `"${input.name}" is a path the server uses itself (${reservedOrgNames.join(", ")} are taken); pick another org name`,
    );
  }
  if (await findOrg(ctx.db, input.name)) {
    throw new ConflictError(`org "${input.name}" exists already; pick another name`);
  }
  // Re-running `git init` on a repo left by an earlier failed attempt is harmless, so no cleanup is needed here.
  await createRepo(ctx.paths, input.name);
  try {
    return await ctx.db
      .insert(orgs)
      .values({
        name: input.name,
        displayName: input.displayName ?? input.name,
        public: input.public ?? false,
      })
      .returning()
      .then(one);
  } catch (err) {
    if (await findOrg(ctx.db, input.name)) {
      throw new ConflictError(`org "${input.name}" exists already; pick another name`);
    }
    throw err;
  }
}
