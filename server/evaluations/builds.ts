// The evaluator's side of the build queue: one build per drv path, shared by every evaluation and jobset that
// asks for it, with the edges "this build needs that one first" read from the derivations themselves.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { and, eq, inArray, sql } from "drizzle-orm";
import type { BuildState } from "../../lib/api/builds.js";
import { type Derivation, parseDerivation, requiredFeatures } from "../../lib/derivation.js";
import type { Job } from "../../lib/nix-eval/index.js";
import { cascadeDependencyFailed } from "../builds/queue.js";
import type { Db } from "../db/open.js";
import { first, one, rawRows } from "../db/raw.js";
import { buildDeps, builds, cachePaths } from "../db/tables.js";

export type BuildRow = typeof builds.$inferSelect;

/** Does the Storehouse hold this store path (`/nix/store/<hash>-<name>`)? */
export type IsInStorehouse = (storePath: string) => Promise<boolean> | boolean;

/** What a job's build was when the evaluation met it; each job counts under exactly one of these. */
export type BuildOutcome = "new" | "shared" | "cached" | "failed";

/** Against the Storehouse's index (`cache_paths`, one row per verified store path, keyed by its hash part). */
export function storehouseIndex(db: Db): IsInStorehouse {
  return async (storePath) => {
    const hash = /^\/nix\/store\/([0-9a-df-np-sv-z]{32})-/.exec(storePath)?.[1];
    if (!hash) return false;
    return (
      (await db
        .select({ hash: cachePaths.hash })
        .from(cachePaths)
        .where(eq(cachePaths.hash, hash))
        .then(first)) !== undefined
    );
  };
}

/** All outputs known and present: a floating content-addressed output (empty path) never counts as built. */
export async function outputsInStorehouse(
  outputs: Record<string, string>,
  isIn: IsInStorehouse,
): Promise<boolean> {
  const paths = Object.values(outputs);
  if (paths.length === 0) return false;
  for (const p of paths) if (p === "" || !(await isIn(p))) return false;
  return true;
}

/**
 * Every derivation reachable from `roots` through input derivations, read from the chroot store at `storeRoot`
 * (the evaluator wrote them there). Reading ahead keeps the database transaction that uses it synchronous.
 */
export async function readDrvClosure(
  storeRoot: string,
  roots: readonly string[],
): Promise<Map<string, Derivation>> {
  const graph = new Map<string, Derivation>();
  let frontier = [...new Set(roots)];
  while (frontier.length > 0) {
    const read = await Promise.all(
      frontier.map(async (p) => [p, parseDerivation(await readFile(join(storeRoot, p), "utf8"))] as const),
    );
    const next = new Set<string>();
    for (const [p, drv] of read) {
      graph.set(p, drv);
      for (const input of Object.keys(drv.inputDrvs)) if (!graph.has(input)) next.add(input);
    }
    for (const p of frontier) next.delete(p);
    frontier = [...next];
  }
  return graph;
}

const requeueable: readonly BuildState[] = ["dependency-failed", "cancelled", "timed-out", "aborted"];
const waiting: readonly BuildState[] = ["queued", "running"];

export interface RegisteredJob {
  attr: string;
  buildId: number;
  outcome: BuildOutcome;
}

/**
 * Finds or creates the build of each job, then records which builds wait for which. Run it inside the
 * transaction that records the evaluation's jobs.
 *
 * - none yet, or one that ended without a verdict of its own (dependency-failed, cancelled, timed-out,
 *   aborted): queued (`new`), or `cached` at once when the Storehouse has every output;
 * - queued or running: shared (`shared`); a queued one whose outputs meanwhile reached the Storehouse
 *   becomes `cached`;
 * - succeeded or cached: `cached`; failed: `failed` — a real build failure is not retried by a new
 *   evaluation of the same drv (that is what an explicit restart is for).
 */
export async function registerBuilds(
  db: Db,
  jobs: readonly Job[],
  graph: ReadonlyMap<string, Derivation>,
  isInStorehouse: IsInStorehouse,
): Promise<RegisteredJob[]> {
  const byDrv = new Map<string, { id: number; outcome: BuildOutcome }>();
  const registered: RegisteredJob[] = [];
  for (const job of jobs) {
    let known = byDrv.get(job.drvPath);
    if (!known) {
      known = await findOrCreateBuild(db, job, graph.get(job.drvPath), isInStorehouse);
      byDrv.set(job.drvPath, known);
    }
    registered.push({ attr: job.attr, buildId: known.id, outcome: known.outcome });
  }
  await addDependencies(db, byDrv, graph);
  const doomed = await failUnbuildable(
    db,
    [...byDrv.values()].map((b) => b.id),
  );
  return registered.map((r) => (doomed.has(r.buildId) ? { ...r, outcome: "failed" } : r));
}

/**
 * A queued build that waits on one that ended without success (a failure the new evaluation does not retry)
 * can never start: it is dependency-failed now, with everything queued behind it. Returns those of `ids`.
 */
async function failUnbuildable(db: Db, ids: number[]): Promise<Set<number>> {
  const dead = new Set<number>();
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const rows = await rawRows<{ id: number }>(
      db,
      sql`
      select distinct d.depends_on as id from build_deps d
      join ${builds} b on b.id = d.build_id
      join ${builds} x on x.id = d.depends_on
      where b.state = 'queued' and ${inArray(sql`b.id`, chunk)}
        and x.state in ('failed', 'dependency-failed', 'cancelled', 'timed-out', 'aborted')`,
    );
    for (const r of rows) await cascadeDependencyFailed(db, r.id);
  }
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    for (const b of await db
      .select({ id: builds.id })
      .from(builds)
      .where(and(inArray(builds.id, chunk), eq(builds.state, "dependency-failed")))) {
      dead.add(b.id);
    }
  }
  return dead;
}

/** The build of one job's drv (found, requeued or created as registerBuilds says); the relay's hook uses it too. */
export async function findOrCreateBuild(
  db: Db,
  job: Job,
  drv: Derivation | undefined,
  isInStorehouse: IsInStorehouse,
): Promise<{ id: number; outcome: BuildOutcome }> {
  const cached = await outputsInStorehouse(job.outputs, isInStorehouse);
  const existing = await db.select().from(builds).where(eq(builds.drvPath, job.drvPath)).then(first);
  if (!existing) {
    const row = await db
      .insert(builds)
      .values({
        drvPath: job.drvPath,
        system: job.system,
        requiredFeatures: drv ? requiredFeatures(drv) : [],
        outputs: job.outputs,
        state: cached ? "cached" : "queued",
        ...(job.timeoutSeconds ? { timeoutSeconds: job.timeoutSeconds } : {}),
        ...(job.maxSilentSeconds ? { maxSilentSeconds: job.maxSilentSeconds } : {}),
        ...(typeof job.priority === "number" ? { priority: job.priority } : {}),
        ...(cached ? { finishedAt: nowIso() } : {}),
      })
      .returning({ id: builds.id })
      .then(one);
    return { id: row.id, outcome: cached ? "cached" : "new" };
  }
  const { id, state } = existing;
  if (requeueable.includes(state) || (state === "queued" && cached)) {
    await db
      .update(builds)
      .set({ state: cached ? "cached" : "queued", startedAt: null, finishedAt: cached ? nowIso() : null })
      .where(and(eq(builds.id, id), eq(builds.state, state)));
    return { id, outcome: cached ? "cached" : state === "queued" ? "shared" : "new" };
  }
  if (waiting.includes(state)) return { id, outcome: "shared" };
  if (state === "failed") return { id, outcome: "failed" };
  return { id, outcome: "cached" };
}

/**
 * For each build this evaluation still has to run, the builds it waits for: walking its input derivations,
 * the first ones that are builds of this evaluation or unfinished builds of another. Derivations that are no
 * build of ours (the base set's, say) are walked through: the builder realises them as part of the closure.
 */
async function addDependencies(
  db: Db,
  mine: ReadonlyMap<string, { id: number; outcome: BuildOutcome }>,
  graph: ReadonlyMap<string, Derivation>,
): Promise<void> {
  const others = new Map<string, { id: number; state: BuildState }>();
  const candidates = [...graph.keys()].filter((p) => !mine.has(p));
  for (let i = 0; i < candidates.length; i += 500) {
    const chunk = candidates.slice(i, i + 500);
    for (const b of await db
      .select({ id: builds.id, drvPath: builds.drvPath, state: builds.state })
      .from(builds)
      .where(inArray(builds.drvPath, chunk))) {
      others.set(b.drvPath, b);
    }
  }
  const blocker = (drvPath: string): number | null | undefined => {
    const own = mine.get(drvPath);
    if (own) return own.id;
    const other = others.get(drvPath);
    if (other) return waiting.includes(other.state) ? other.id : null;
    return undefined; // not a build: look through it
  };
  const memo = new Map<string, Set<number>>();
  const reach = (drvPath: string): Set<number> => {
    const seen = memo.get(drvPath);
    if (seen) return seen;
    const found = new Set<number>();
    memo.set(drvPath, found); // derivations form a DAG; this only guards against a malformed store
    for (const input of Object.keys(graph.get(drvPath)?.inputDrvs ?? {})) {
      const b = blocker(input);
      if (typeof b === "number") found.add(b);
      else if (b === undefined) for (const id of reach(input)) found.add(id);
    }
    return found;
  };
  for (const [drvPath, build] of mine) {
    if (build.outcome !== "new" && build.outcome !== "shared") continue;
    for (const dependsOn of reach(drvPath)) {
      if (dependsOn === build.id) continue;
      await db.insert(buildDeps).values({ buildId: build.id, dependsOn }).onConflictDoNothing();
    }
  }
}

function nowIso(): string {
  return new Date().toISOString();
}
