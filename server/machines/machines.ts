// Machines: endpoints that follow profiles and channels. A machine is bound to its machine token, and through it to
// one org: it may follow that org's profiles and channels and nothing else (docs/ARCHITECTURE.md, "Machines").
import { and, eq } from "drizzle-orm";
import type { Db } from "../db/open.js";
import { machines } from "../db/schema.js";
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

export function registerMachine(
  db: Db,
  token: TokenRecord,
  name: string,
): { machine: MachineRow; created: boolean } {
  requireMachineToken(token);
  const orgId = token.orgId;
  return db.transaction(
    (tx) => {
      const mine = tx.select().from(machines).where(eq(machines.tokenId, token.id)).get();
      if (mine) {
        if (mine.name === name) return { machine: mine, created: false };
        throw new ConflictError(
          `this token is registered as machine "${mine.name}" already; one token per machine (make another with flox token create --machine --org ${token.org})`,
        );
      }
      const taken = tx
        .select()
        .from(machines)
        .where(and(eq(machines.orgId, orgId), eq(machines.name, name)))
        .get();
      if (taken) {
        throw new ConflictError(
          `org ${token.org} has a machine named "${name}" already, registered with another token; pick another name`,
        );
      }
      const machine = tx
        .insert(machines)
        .values({ orgId, name, tokenId: token.id, lastSeenAt: stamp() })
        .returning()
        .get();
      return { machine, created: true };
    },
    { behavior: "immediate" },
  );
}

export function findMachineOfToken(db: Db, tokenId: number): MachineRow | undefined {
  return db.select().from(machines).where(eq(machines.tokenId, tokenId)).get();
}

/** The machine the token belongs to; anything else is refused with what to do. */
export function machineOf(db: Db, token: TokenRecord): MachineRow {
  if (token.scope !== "machine") {
    throw new ForbiddenError(
      `this is for machines: use a machine token (flox token create --machine --org ORG); this is a "${token.scope}" token`,
    );
  }
  const m = db.select().from(machines).where(eq(machines.tokenId, token.id)).get();
  if (!m) {
    throw new NotFoundError("this machine token is not registered yet; run: flox machine register NAME");
  }
  return m;
}

export function touchMachine(db: Db, machineId: number): void {
  db.update(machines).set({ lastSeenAt: stamp() }).where(eq(machines.id, machineId)).run();
}
