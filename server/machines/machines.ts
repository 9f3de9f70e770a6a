// Machines: endpoints that follow profiles and channels. A machine is bound to its machine token, and through it to
// one org: it may follow that org's profiles and channels and nothing else (docs/ARCHITECTURE.md, "Machines").
import { and, eq } from "drizzle-orm";
import type { Db } from "../db/open.js";
import { first, one } from "../db/raw.js";
import { machines } from "../db/tables.js";
import { inTransaction } from "../db/transaction.js";
import { ConflictError, ForbiddenError, NotFoundError } from "../errors.js";
import type { TokenRecord } from "../orgs/tokens.js";

export type MachineRow = typeof machines.$inferSelect;

/** Now, as every machine timestamp is stored. */
export const stamp = () => new Date().toISOString();

/** Creates the machine of this token (`flox machine register NAME`); registering again under its name is a no-op. */
/** Only a machine token of an org may register; checked before the route reads the body. */
export function requireMachineToken(token: TokenRecord): asserts token is TokenRecord & { orgId: number } {
  if (token.scope !== "machine") {
    throw new ForbiddenError(
      `only a machine token registers a machine; this is a "${token.scope}" token (make one with: flox token create --machine --org ORG)`,
    );
  }
  if (token.orgId === null) {
    throw new ForbiddenError(
      "this machine token belongs to no org, so there is nothing it may follow; make one with: flox token create --machine --org ORG",
    );
  }
}

export async function registerMachine(
  db: Db,
  token: TokenRecord,
  name: string,
): Promise<{ machine: MachineRow; created: boolean }> {
  requireMachineToken(token);
  const orgId = token.orgId;
  return inTransaction(db, async (tx) => {
    const mine = await tx.select().from(machines).where(eq(machines.tokenId, token.id)).then(first);
    if (mine) {
      if (mine.name === name) return { machine: mine, created: false };
      throw new ConflictError(
        `this token is registered as machine "${mine.name}" already; one token per machine (make another with flox token create --machine --org ${token.org})`,
      );
    }
    const taken = await tx
      .select()
      .from(machines)
      .where(and(eq(machines.orgId, orgId), eq(machines.name, name)))
      .then(first);
    if (taken) {
      throw new ConflictError(
        `org ${token.org} has a machine named "${name}" already, registered with another token; pick another name`,
      );
    }
    const machine = await tx
      .insert(machines)
      .values({ orgId, name, tokenId: token.id, lastSeenAt: stamp() })
      .returning()
      .then(one);
    return { machine, created: true };
  });
}

export async function findMachineOfToken(db: Db, tokenId: number): Promise<MachineRow | undefined> {
  return await db.select().from(machines).where(eq(machines.tokenId, tokenId)).then(first);
}

/** The machine the token belongs to; anything else is refused with what to do. */
export async function machineOf(db: Db, token: TokenRecord): Promise<MachineRow> {
  if (token.scope !== "machine") {
    throw new ForbiddenError(
      `this is for machines: use a machine token (flox token create --machine --org ORG); this is a "${token.scope}" token`,
    );
  }
  const m = await db.select().from(machines).where(eq(machines.tokenId, token.id)).then(first);
  if (!m) {
    throw new NotFoundError("this machine token is not registered yet; run: flox machine register NAME");
  }
  return m;
}

export async function touchMachine(db: Db, machineId: number): Promise<void> {
  await db.update(machines).set({ lastSeenAt: stamp() }).where(eq(machines.id, machineId));
}
