// Users: people who get org roles through memberships and act through `user` tokens.
import { asc, eq } from "drizzle-orm";
import type { Db } from "../db/open.js";
import { users } from "../db/schema.js";
import { ConflictError, NotFoundError } from "../errors.js";

export type UserRecord = typeof users.$inferSelect;

export function findUser(db: Db, name: string): UserRecord | undefined {
  return db.select().from(users).where(eq(users.name, name)).get();
}

export function getUser(db: Db, name: string): UserRecord {
  const user = findUser(db, name);
  if (!user)
    throw new NotFoundError(`there is no user "${name}"; an admin creates users with \`flox user add\``);
  return user;
}

export function listUsers(db: Db): UserRecord[] {
  return db.select().from(users).orderBy(asc(users.name)).all();
}

export function createUser(db: Db, name: string): UserRecord {
  if (findUser(db, name)) throw new ConflictError(`user "${name}" exists already`);
  return db.insert(users).values({ name }).returning().get();
}
