// One collection: roots → live closure → plan → deletion in batches under the GC gate, journaled, logged.
import { inArray } from "drizzle-orm";
import pLimit from "p-limit";
import type { Logger } from "pino";
import type { Db } from "../../db/open.js";
import { cachePathOrgs, cachePaths } from "../../db/tables.js";
import type { AccessTracker } from "./access.js";
import { addClosure, hashPart, loadIndex, type PathIndex, pathsTouchedSince } from "./closure.js";
import type { GcGate } from "./gate.js";
import { finishDeletion, type JournalStore, journalAdd, replayJournal } from "./journal.js";
import { collectNixRoot, type NixRootResult } from "./nix-root.js";
import { type Plan, planCollection } from "./plan.js";
import { pruneChangeEvents, pruneExpiredSessions } from "./prune-rows.js";
import { DEFAULT_KEEP_CHANNEL_DAYS } from "./retention.js";
import { retireBuildLogs, retireChannelTarballs } from "./retire-files.js";
import { collectRoots, type Root, type RootKind, type RootSet, rootKinds } from "./roots.js";
import { addToRun, finishRun, startRun } from "./runs.js";

/** What a collection needs of the Storehouse (store.ts). */
export interface GcStore extends JournalStore {
  readonly gate: GcGate;
  readonly access: AccessTracker;
}

export interface GcOptions {
  dryRun: boolean;
  /** `--org`: only paths uploaded for it (and its logs and tarballs). */
  orgId: number | null;
  /** `--storehouse-target`: stop once the NAR bytes are under this. */
  targetBytes: number | null;
  trigger: string;
  /** DATA_DIR/nix-root, collected with Nix's own GC after the Storehouse; absent: left alone. */
  nixRootDir?: string | undefined;
  /** Paths deleted per batch (one log line, one hold of the gate). */
  batchSize?: number;
  /** Tests: called after each batch (a kill -9 lands mid-run). */
  afterBatch?: () => Promise<void>;
}

export interface GcReport {
  runId: number | null;
  dryRun: boolean;
  roots: Record<RootKind, number>;
  reachable: number;
  unreachable: number;
  /** The NAR bytes held before. */
  totalBytes: number;
  /** Paths that went (or would go), and their NAR bytes. */
  paths: number;
  bytes: number;
  /** Uploaded or asked for while this run went: kept. */
  spared: number;
  /** The first paths (up to 1000) in deletion order. */
  sample: { storePath: string; bytes: number; lastUsed: string }[];
  logs: { count: number; bytes: number };
  tarballs: { count: number; bytes: number };
  changeEvents: number;
  sessions: number;
  /** The server's chroot store (nix-store --gc); null when not collected. */
  nixRoot: NixRootResult | null;
  /** Deletions a killed run left, finished first. */
  resumed: number;
  durationMs: number;
}

const SAMPLE = 1000;
const FILE_DELETIONS_AT_ONCE = 16;

export function countRoots(roots: Root[]): Record<RootKind, number> {
  const counts = Object.fromEntries(rootKinds.map((k) => [k, 0])) as Record<RootKind, number>;
  for (const r of roots) counts[r.kind]++;
  return counts;
}

/** The live set: the closure of every root's path the Storehouse holds. */
export function liveSet(index: PathIndex, roots: Root[]): Set<string> {
  const start: string[] = [];
  for (const r of roots) {
    const h = hashPart(r.storePath);
    if (h) start.push(h);
  }
  return addClosure(index, start, new Set());
}

async function orgHashes(db: Db, orgId: number): Promise<Set<string>> {
  const rows = await db
    .select({ hash: cachePathOrgs.hash })
    .from(cachePathOrgs)
    .where(inArray(cachePathOrgs.orgId, [orgId]));
  return new Set(rows.map((r) => r.hash));
}

/** Computes what would go; `runGc` deletes it. */
export async function planGc(
  s: GcStore,
  opts: Pick<GcOptions, "orgId" | "targetBytes">,
  now = new Date(),
): Promise<{
  plan: Plan;
  index: PathIndex;
  rootSet: RootSet;
  live: Set<string>;
}> {
  await s.access.flush(s.db);
  const index = await loadIndex(s.db);
  const rootSet = await collectRoots(s.db, now);
  const live = liveSet(index, rootSet.roots);
  const plan = planCollection(index, live, {
    targetBytes: opts.targetBytes,
    onlyHashes: opts.orgId === null ? null : await orgHashes(s.db, opts.orgId),
  });
  return { plan, index, rootSet, live };
}

export async function runGc(s: GcStore, logger: Logger, opts: GcOptions): Promise<GcReport> {
  // Accesses so far are written first: their flush time must fall before the run's start, or they would count as
  // "asked for during the run" and be spared.
  await s.access.flush(s.db);
  await new Promise((ok) => setTimeout(ok, 2));
  const started = Date.now();
  const t0 = new Date(started);
  const resumed = opts.dryRun ? 0 : (await replayJournal(s)).finished;
  const runId = opts.dryRun ? null : await startRun(s.db, opts.trigger, opts.orgId);
  const report: GcReport = {
    runId,
    dryRun: opts.dryRun,
    roots: countRoots([]),
    reachable: 0,
    unreachable: 0,
    totalBytes: 0,
    paths: 0,
    bytes: 0,
    spared: 0,
    sample: [],
    logs: { count: 0, bytes: 0 },
    tarballs: { count: 0, bytes: 0 },
    changeEvents: 0,
    sessions: 0,
    nixRoot: null,
    resumed,
    durationMs: 0,
  };
  try {
    const { plan, index, rootSet, live } = await planGc(s, opts, t0);
    report.roots = countRoots(rootSet.roots);
    report.reachable = live.size;
    report.unreachable = plan.unreachable;
    report.totalBytes = plan.totalBytes;
    report.sample = plan.paths
      .slice(0, SAMPLE)
      .map((p) => ({ storePath: p.storePath, bytes: p.fileSize, lastUsed: p.lastAccessedAt ?? p.createdAt }));
    if (opts.dryRun) {
      report.paths = plan.paths.length;
      report.bytes = plan.bytes;
    } else {
      await deleteInBatches(s, logger, plan, index, t0, runId as number, opts, report);
    }
    if (opts.orgId === null) {
      report.logs = await retireBuildLogs(s.db, s.objects, rootSet.keptEvaluations, opts.dryRun);
      report.tarballs = await retireChannelTarballs(s.objects, rootSet.keptPoints, opts.dryRun);
      report.changeEvents = await pruneChangeEvents(s.db, t0, DEFAULT_KEEP_CHANNEL_DAYS, opts.dryRun);
      report.sessions = await pruneExpiredSessions(s.db, t0, opts.dryRun);
      if (opts.nixRootDir) {
        const keep = rootSet.roots
          .filter((r) => r.kind === "build" || r.kind === "profile")
          .map((r) => r.storePath);
        report.nixRoot = await collectNixRoot(s.db, opts.nixRootDir, keep, opts.dryRun).catch((err) => {
          logger.error({ err }, "GC of the server's nix-root failed");
          return { skipped: `failed: ${(err as Error).message}`, paths: 0, bytes: 0 };
        });
        if (!opts.dryRun)
          logger.info(
            { gcRun: runId, ...report.nixRoot },
            "GC: collected the server's nix-root with nix-store --gc",
          );
      }
      if (
        !opts.dryRun &&
        report.logs.count + report.tarballs.count + report.changeEvents + report.sessions > 0
      )
        logger.info(
          {
            gcRun: runId,
            logs: report.logs.count,
            logBytes: report.logs.bytes,
            tarballs: report.tarballs.count,
            tarballBytes: report.tarballs.bytes,
            changeEvents: report.changeEvents,
            sessions: report.sessions,
          },
          "GC: deleted build logs and channel tarballs past retention, old feed events and expired sessions",
        );
    }
    report.durationMs = Date.now() - started;
    if (runId !== null)
      await finishRun(s.db, runId, {
        paths: report.paths,
        bytes: report.bytes,
        other: {
          logs: report.logs.count,
          tarballs: report.tarballs.count,
          changeEvents: report.changeEvents,
          sessions: report.sessions,
          nixRootPaths: report.nixRoot?.paths ?? 0,
          nixRootBytes: report.nixRoot?.bytes ?? 0,
          durationMs: report.durationMs,
        },
      });
    return report;
  } catch (err) {
    if (runId !== null)
      await finishRun(s.db, runId, {
        paths: report.paths,
        bytes: report.bytes,
        other: {},
        error: (err as Error).message,
      });
    throw err;
  }
}

/**
 * Each batch: alone under the gate, drop what was uploaded or asked for since the run began (with its closure),
 * journal the rest and delete their rows; then, with uploads flowing again, delete their files.
 */
async function deleteInBatches(
  s: GcStore,
  logger: Logger,
  plan: Plan,
  index: PathIndex,
  t0: Date,
  runId: number,
  opts: GcOptions,
  report: GcReport,
): Promise<void> {
  const batchSize = opts.batchSize ?? 1000;
  const spared = new Set<string>();
  for (let i = 0; i < plan.paths.length; i += batchSize) {
    const release = await s.gate.acquireExclusive();
    let batch: typeof plan.paths;
    try {
      const fresh = await pathsTouchedSince(s.db, t0.toISOString());
      for (const p of fresh) index.set(p.hash, p);
      addClosure(index, [...fresh.map((p) => p.hash), ...s.access.touchedSince(t0.getTime())], spared);
      batch = plan.paths.slice(i, i + batchSize).filter((p) => !spared.has(p.hash));
      const entries = batch.map((p) => ({ hash: p.hash, narFile: p.narFile }));
      await journalAdd(s.db, runId, entries);
      for (let j = 0; j < entries.length; j += 500) {
        const hashes = entries.slice(j, j + 500).map((e) => e.hash);
        await s.db.delete(cachePaths).where(inArray(cachePaths.hash, hashes));
        await s.db.delete(cachePathOrgs).where(inArray(cachePathOrgs.hash, hashes));
      }
    } finally {
      release();
    }
    // Files of different paths go side by side (each under its own locks); the file system is the bottleneck.
    const limit = pLimit(FILE_DELETIONS_AT_ONCE);
    const freedEach = await Promise.all(batch.map((p) => limit(() => finishDeletion(s, p))));
    const freed = freedEach.reduce((n, b) => n + b, 0);
    report.paths += batch.length;
    report.bytes += freed;
    await addToRun(s.db, runId, batch.length, freed);
    if (batch.length > 0)
      logger.info(
        { gcRun: runId, paths: batch.length, bytes: freed, done: report.paths, of: plan.paths.length },
        "GC: deleted a batch of unreachable Storehouse paths (narinfo, listing, NAR)",
      );
    await opts.afterBatch?.();
  }
  const planned = new Set(plan.paths.map((p) => p.hash));
  report.spared = [...spared].filter((h) => planned.has(h)).length;
}
