// At start (and on the leader while it runs: catch-up.ts), takes in the push records the post-receive hook saved
// in `<repo>/flox-spool.jsonl` while it could not reach the server (see hooks/push-record.ts).
import { readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { SPOOL_FILE, SpooledPush } from "../../lib/api/internal.js";
import type { Db } from "../db/open.js";
import { inTransaction } from "../db/transaction.js";
import type { OrgRecord } from "../orgs/orgs.js";
import { lastRecordedShas, recordPush } from "./data.js";

/**
 * Records every readable line as a `hook` push at its spool time (but a move recorded already), then removes the
 * file. Returns the count recorded.
 */
export async function ingestSpool(db: Db, org: OrgRecord, repo: string, logger: Logger): Promise<number> {
  const file = join(repo, SPOOL_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
  const records: SpooledPush[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (line.trim() === "") continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      json = undefined;
    }
    const parsed = SpooledPush.safeParse(json);
    if (parsed.success) records.push(parsed.data);
    // A torn last line (the hook died mid-write) is lost; reconciliation still sees the ref itself.
    else logger.warn({ org: org.name, file, line: i + 1 }, "unreadable spooled push record skipped");
  }
  // A record already written for the same move is not written twice: with several servers the leader may have
  // reconciled the ref (catch-up.ts) while the hook was still trying to reach its dead server.
  const latest = await lastRecordedShas(db, org);
  let taken = 0;
  await inTransaction(db, async (tx) => {
    for (const r of records) {
      if (latest.get(r.ref) === r.newSha) continue;
      latest.set(r.ref, r.newSha);
      taken++;
      await recordPush(
        tx,
        org,
        { ref: r.ref, oldSha: r.oldSha, newSha: r.newSha, pushOptions: r.pushOptions },
        "hook",
        r.spooledAt,
      );
    }
  });
  await unlink(file);
  if (records.length > 0)
    logger.info(
      { org: org.name, count: taken, already: records.length - taken },
      "spooled push records taken in",
    );
  return taken;
}
