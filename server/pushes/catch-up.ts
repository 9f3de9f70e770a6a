// Several servers: a server killed between a ref update and its push record leaves the ref moved with no record
// (its hook, cut off from it, spools the record into the shared repo, or died with it). The others never restart
// for it, so the leader catches up while they run: per repo, when no push holds the repo's lock, what the start
// of a server does (spool intake, then reconciliation).
import type { Logger } from "pino";
import type { Db } from "../db/open.js";
import { LOCK, type ServerLocks } from "../db/server-locks.js";
import type { Signals } from "../db/signals.js";
import { listOrgs } from "../orgs/orgs.js";
import { repoDir } from "../paths.js";
import { reconcileOrg } from "./reconcile.js";

/** How often the leader looks; a push whose server died is recorded (and evaluated) this much later at most. */
export const CATCH_UP_MS = 5000;

/** Starts the leader's catch-up; returns its stop. */
export function startPushCatchUp(opts: {
  db: Db;
  reposDir: string;
  logger: Logger;
  locks: ServerLocks;
  /** Every server's evaluator hears of the evaluations the records queued. */
  signals: Signals;
  everyMs?: number;
}): () => void {
  const { db, reposDir, logger, locks, signals } = opts;
  let running = false;
  const pass = async () => {
    if (running || !locks.leading) return;
    running = true;
    try {
      for (const org of await listOrgs(db)) {
        const key = LOCK.push(org.id);
        // A push under way (on any server) holds it: its record is on its way, nothing to catch up on.
        if (!(await locks.tryHold(key))) continue;
        try {
          const r = await reconcileOrg(db, org, repoDir(reposDir, org.name), logger);
          if (r.spooled > 0 || r.reconciled > 0) {
            logger.warn({ org: org.name, ...r }, "pushes a stopped server left unrecorded caught up");
            signals.publish("evaluation");
          }
        } finally {
          await locks.release(key);
        }
      }
    } catch (err) {
      logger.warn({ err }, "catching up on pushes left unrecorded failed; trying again");
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void pass(), opts.everyMs ?? CATCH_UP_MS);
  timer.unref();
  return () => clearInterval(timer);
}
