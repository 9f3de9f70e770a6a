// At start, catches up on pushes the server did not hear of while it was away: first the records the hooks
// spooled, then ref updates with no record at all (stopped between ref update and post-receive).
import type { Logger } from "pino";
import type { Db } from "../db/open.js";
import { readRefs } from "../git/refs.js";
import { listOrgs } from "../orgs/orgs.js";
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
    const repo = repoDir(reposDir, org.name);
    spooled += await ingestSpool(db, org, repo, logger);
    const current = await readRefs(repo);
    for (const update of missingUpdates(await lastRecordedShas(db, org), current)) {
      await recordPush(db, org, update, "reconciled");
      logger.warn({ org: org.name, ...update }, "ref moved without a push record; recorded as reconciled");
      written++;
    }
  }
  return { spooled, reconciled: written };
}
