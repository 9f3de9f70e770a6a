// Users: people who get org roles through memberships and act through `user` tokens.
import { asc, eq } from "drizzle-orm";
import type { Db } from "../db/open.js";
import { first, one } from "../db/raw.js";
import { users } from "../db/tables.js";
import { ConflictError, NotFoundError } from "../errors.js";

export type UserRecord = typeof users.$inferSelect;

export async function findUser(db: Db, name: string): Promise<UserRecord | undefined> {
  return await db.select().from(users).where(eq(users.name, name)).then(first);
}

export async function getUser(db: Db, name: string): Promise<UserRecord> {
  const user = await findUser(db, name);
  if (!user)
    throw new NotFoundError(`there is no user "${name}"; an admin creates users with \`flox user add\``);
  return user;
}

export async function listUsers(db: Db): Promise<UserRecord[]> {
  return await db.select().from(users).orderBy(asc(users.name));
}

export async function createUser(db: Db, name: string): Promise<UserRecord> {
  if (await findUser(db, name)) throw new ConflictError(`user "${name}" exists already`);
  return await db.insert(users).values({ name }).returning().then(one);
}
