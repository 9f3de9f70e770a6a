// The relay's records: each relayed connection (the org's activity log: who, from which host, when, how it ended)
// and the builds it asked the farm for. Every query of the relay lives here.
import { and, desc, eq, inArray, isNull } from "drizzle-orm";
import type { RelaySession } from "../../lib/api/relay.js";
import type { Db } from "../db/open.js";
import { builds, relaySessions, relayWants } from "../db/tables.js";

export type SessionEnd = "client" | "daemon" | "server" | "refused";

export interface NewSession {
  orgId: number;
  tokenId: number;
  actor: string;
  host: string | null;
  remoteAddress: string | null;
  /** The server run holding the connection (ServerLocks.runId). */
  serverRun: number;
}

export async function openSession(db: Db, s: NewSession): Promise<number> {
  const [row] = await db.insert(relaySessions).values(s).returning({ id: relaySessions.id });
  if (!row) throw new Error("inserting a relay session returned no row");
  return row.id;
}

export async function endSession(db: Db, id: number, reason: SessionEnd): Promise<void> {
  await db
    .update(relaySessions)
    .set({ endedAt: new Date().toISOString(), endReason: reason })
    .where(and(eq(relaySessions.id, id), isNull(relaySessions.endedAt)));
}

/**
 * Sessions whose server run is gone (killed; its connections died with it) are ended: at each start, and on the
 * leader every minute for servers that never came back. `alive` says whether a run still holds its lock.
 */
export async function endOrphanedSessions(db: Db, alive: (run: number) => Promise<boolean>): Promise<number> {
  const runs = await db
    .selectDistinct({ run: relaySessions.serverRun })
    .from(relaySessions)
    .where(isNull(relaySessions.endedAt));
  let ended = 0;
  for (const { run } of runs) {
    if (run !== null && (await alive(run))) continue;
    const rows = await db
      .update(relaySessions)
      .set({ endedAt: new Date().toISOString(), endReason: "server" })
      .where(
        and(
          isNull(relaySessions.endedAt),
          run === null ? isNull(relaySessions.serverRun) : eq(relaySessions.serverRun, run),
        ),
      )
      .returning({ id: relaySessions.id });
    ended += rows.length;
  }
  return ended;
}

/** The session wants this build (again, if it had stopped). */
export async function addWant(db: Db, sessionId: number, buildId: number): Promise<void> {
  await db
    .insert(relayWants)
    .values({ sessionId, buildId })
    .onConflictDoUpdate({ target: [relayWants.sessionId, relayWants.buildId], set: { withdrawnAt: null } });
}

/** The org's relay activity, newest first, with the builds each connection asked for. */
export async function listSessions(db: Db, orgId: number, limit: number): Promise<RelaySession[]> {
  const sessions = await db
    .select()
    .from(relaySessions)
    .where(eq(relaySessions.orgId, orgId))
    .orderBy(desc(relaySessions.id))
    .limit(limit);
  const ids = sessions.map((s) => s.id);
  const wants =
    ids.length === 0
      ? []
      : await db
          .select({
            sessionId: relayWants.sessionId,
            id: builds.id,
            drvPath: builds.drvPath,
            state: builds.state,
            withdrawnAt: relayWants.withdrawnAt,
          })
          .from(relayWants)
          .innerJoin(builds, eq(builds.id, relayWants.buildId))
          .where(inArray(relayWants.sessionId, ids))
          .orderBy(relayWants.id);
  return sessions.map((s) => ({
    id: s.id,
    actor: s.actor,
    host: s.host,
    remoteAddress: s.remoteAddress,
    startedAt: s.startedAt,
    endedAt: s.endedAt,
    endReason: s.endReason,
    builds: wants
      .filter((w) => w.sessionId === s.id)
      .map((w) => ({ id: w.id, drvPath: w.drvPath, state: w.state, withdrawn: w.withdrawnAt !== null })),
  }));
}
