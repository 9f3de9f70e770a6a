// At start (and, with several servers, on the leader while it runs: catch-up.ts), catches up on pushes no server
// recorded: first the records the hooks spooled, then ref updates with no record at all (stopped between ref
// update and post-receive).
import type { Logger } from "pino";
import type { Db } from "../db/open.js";
import { readRefs } from "../git/refs.js";
import { listOrgs, type OrgRecord } from "../orgs/orgs.js";
import { repoDir } from "../paths.js";
import { lastRecordedShas, missingUpdates, recordPush } from "./data.js";
import { ingestSpool } from "./spool.js";

/** Returns how many records were written: taken from spools, and `reconciled`. */
export async function reconcilePushes(
  db: Db,
  reposDir: string,
  logger: Logger,
): Promise<{ spooled: number; reconciled: number }> {
  let spooled = 0;
  let written = 0;
  for (const org of await listOrgs(db)) {
    const r = await reconcileOrg(db, org, repoDir(reposDir, org.name), logger);
    spooled += r.spooled;
    written += r.reconciled;
  }
  return { spooled, reconciled: written };
}

/** One org's repo: its spooled records, then ref updates with no record at all. */
export async function reconcileOrg(
  db: Db,
  org: OrgRecord,
  repo: string,
  logger: Logger,
): Promise<{ spooled: number; reconciled: number }> {
  const spooled = await ingestSpool(db, org, repo, logger);
  const current = await readRefs(repo);
  let written = 0;
  for (const update of missingUpdates(await lastRecordedShas(db, org), current)) {
    await recordPush(db, org, update, "reconciled");
    logger.warn({ org: org.name, ...update }, "ref moved without a push record; recorded as reconciled");
    written++;
  }
  return { spooled, reconciled: written };
}
