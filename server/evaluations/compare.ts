// The comparison of an evaluation with the jobset's previous one, per attr, from the build states of now.
import { eq } from "drizzle-orm";
import type { BuildState } from "../../lib/api/builds.js";
import type { EvalComparison } from "../../lib/api/evaluations.js";
import { jobState } from "../builds/wants.js";
import type { Db } from "../db/open.js";
import { builds, evalJobs } from "../db/tables.js";
import { type EvaluationRow, previousSucceeded, problemsOf } from "./data.js";

/** Build states that count as failing; queued, running and cancelled builds are not (yet) a verdict. */
const failing: ReadonlySet<BuildState> = new Set(["failed", "dependency-failed", "timed-out", "aborted"]);

/** attr → failing? for one evaluation: its jobs by build state, and its problems (always failing). */
export async function attrStatus(db: Db, evaluationId: number): Promise<Map<string, boolean>> {
  const status = new Map<string, boolean>();
  const rows = await db
    .select({ attr: evalJobs.attr, state: jobState() })
    .from(evalJobs)
    .innerJoin(builds, eq(builds.id, evalJobs.buildId))
    .where(eq(evalJobs.evaluationId, evaluationId));
  for (const r of rows) status.set(r.attr, failing.has(r.state));
  for (const p of await problemsOf(db, evaluationId)) if (p.attr !== null) status.set(p.attr, true);
  return status;
}

/** Pure: the lists, each sorted. */
export function compareStatus(
  previous: ReadonlyMap<string, boolean>,
  current: ReadonlyMap<string, boolean>,
): Omit<EvalComparison, "previous"> {
  const out: Omit<EvalComparison, "previous"> = {
    new: [],
    removed: [],
    newlyFailed: [],
    fixed: [],
    stillFailing: [],
  };
  for (const [attr, failed] of current) {
    const before = previous.get(attr);
    if (before === undefined) out.new.push(attr);
    else if (failed && before) out.stillFailing.push(attr);
    else if (failed) out.newlyFailed.push(attr);
    else if (before) out.fixed.push(attr);
  }
  for (const attr of previous.keys()) if (!current.has(attr)) out.removed.push(attr);
  for (const list of Object.values(out)) list.sort();
  return out;
}

/** Compared with the newest earlier evaluation of the jobset that succeeded; nothing before it: all empty. */
export async function compareWithPrevious(db: Db, e: EvaluationRow): Promise<EvalComparison> {
  const prev = await previousSucceeded(db, e);
  if (!prev || e.state !== "succeeded") {
    return { previous: prev?.id ?? null, new: [], removed: [], newlyFailed: [], fixed: [], stillFailing: [] };
  }
  return { previous: prev.id, ...compareStatus(await attrStatus(db, prev.id), await attrStatus(db, e.id)) };
}
