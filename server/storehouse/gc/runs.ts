// The record of GC runs: one row each, for the /-/storehouse page and `flox storehouse usage`.
import { desc, eq } from "drizzle-orm";
import type { Db } from "../../db/open.js";
import { gcRuns } from "../../db/tables.js";

export type GcRunRow = typeof gcRuns.$inferSelect;

export async function startRun(db: Db, trigger: string, orgId: number | null): Promise<number> {
  const [row] = await db
    .insert(gcRuns)
    .values({ state: "running", trigger, orgId })
    .returning({ id: gcRuns.id });
  if (!row) throw new Error("recording the GC run failed");
  return row.id;
}

export async function finishRun(
  db: Db,
  id: number,
  result: { paths: number; bytes: number; other: Record<string, number>; error?: string },
): Promise<void> {
  await db
    .update(gcRuns)
    .set({
      state: result.error ? "failed" : "finished",
      paths: result.paths,
      bytes: result.bytes,
      other: result.other,
      error: result.error ?? null,
      finishedAt: new Date().toISOString(),
    })
    .where(eq(gcRuns.id, id));
}

/** Adds to a run as its batches go, so a killed run still tells what it freed. */
export async function addToRun(db: Db, id: number, paths: number, bytes: number): Promise<void> {
  const [row] = await db.select().from(gcRuns).where(eq(gcRuns.id, id));
  if (row)
    await db
      .update(gcRuns)
      .set({ paths: row.paths + paths, bytes: row.bytes + bytes })
      .where(eq(gcRuns.id, id));
}

/** Runs a kill left `running`: marked failed at the next start (the journal replay finishes their deletions). */
export async function failAbandonedRuns(db: Db): Promise<number> {
  const rows = await db
    .update(gcRuns)
    .set({
      state: "failed",
      error: "the server stopped during this run",
      finishedAt: new Date().toISOString(),
    })
    .where(eq(gcRuns.state, "running"))
    .returning({ id: gcRuns.id });
  return rows.length;
}

export async function lastRun(db: Db): Promise<GcRunRow | undefined> {
  const [row] = await db.select().from(gcRuns).orderBy(desc(gcRuns.id)).limit(1);
  return row;
}
