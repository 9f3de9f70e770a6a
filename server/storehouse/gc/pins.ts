// Pins: store paths kept by hand with their closure (`flox pin add|list|remove`), optionally until a date.
import { eq, inArray, or } from "drizzle-orm";
import type { Db } from "../../db/open.js";
import { cachePaths, gcPins, orgs } from "../../db/tables.js";
import { ConflictError, NotFoundError } from "../../errors.js";
import { hashPart } from "./closure.js";

export interface PinRecord {
  id: number;
  storePath: string;
  name: string | null;
  org: string | null;
  orgId: number | null;
  until: string | null;
  createdBy: string | null;
  createdAt: string;
  present: boolean;
}

export async function listPins(db: Db, orgIds?: number[]): Promise<PinRecord[]> {
  const rows = await db
    .select({
      id: gcPins.id,
      storePath: gcPins.storePath,
      name: gcPins.name,
      orgId: gcPins.orgId,
      org: orgs.name,
      until: gcPins.until,
      createdBy: gcPins.createdBy,
      createdAt: gcPins.createdAt,
    })
    .from(gcPins)
    .leftJoin(orgs, eq(orgs.id, gcPins.orgId))
    .orderBy(gcPins.id);
  const wanted =
    orgIds === undefined ? rows : rows.filter((r) => r.orgId !== null && orgIds.includes(r.orgId));
  const hashes = wanted.flatMap((r) => hashPart(r.storePath) ?? []);
  const present = new Set<string>();
  for (let i = 0; i < hashes.length; i += 500) {
    const got = await db
      .select({ h: cachePaths.hash })
      .from(cachePaths)
      .where(inArray(cachePaths.hash, hashes.slice(i, i + 500)));
    for (const g of got) present.add(g.h);
  }
  return wanted.map((r) => ({ ...r, present: present.has(hashPart(r.storePath) ?? "") }));
}

export async function addPin(
  db: Db,
  pin: {
    storePath: string;
    name?: string | undefined;
    until?: string | undefined;
    orgId: number | null;
    createdBy: string;
  },
): Promise<PinRecord> {
  if (pin.name) {
    const [taken] = await db.select({ id: gcPins.id }).from(gcPins).where(eq(gcPins.name, pin.name));
    if (taken)
      throw new ConflictError(
        `a pin named "${pin.name}" exists already; remove it first (flox pin remove ${pin.name}) or pick another name`,
      );
  }
  const [row] = await db
    .insert(gcPins)
    .values({
      storePath: pin.storePath,
      name: pin.name ?? null,
      orgId: pin.orgId,
      until: pin.until ? new Date(pin.until).toISOString() : null,
      createdBy: pin.createdBy,
    })
    .returning({ id: gcPins.id });
  const made = (await listPins(db)).find((p) => p.id === row?.id);
  if (!made) throw new Error("the pin was not recorded");
  return made;
}

/** Removes the pins named `ref` or on the store path `ref`; none is a 404 that says what exists. */
export async function removePins(db: Db, ref: string, orgIds?: number[]): Promise<PinRecord[]> {
  const matching = (await listPins(db, orgIds)).filter((p) => p.name === ref || p.storePath === ref);
  if (matching.length === 0)
    throw new NotFoundError(`no pin is named or pins "${ref}" (flox pin list shows the pins)`);
  await db.delete(gcPins).where(
    or(
      inArray(
        gcPins.id,
        matching.map((p) => p.id),
      ),
    ),
  );
  return matching;
}
