// The Storehouse's collector as the server runs it: finishes a killed run's deletions at start, flushes the access
// times, collects on a cron schedule (default nightly), and runs one collection at a time for the API.
import { Cron } from "croner";
import type { Logger } from "pino";
import { LOCK, type ServerLocks } from "../../db/server-locks.js";
import { type GcOptions, type GcReport, type GcStore, runGc } from "./collect.js";
import { replayJournal } from "./journal.js";
import type { QuotaGuard } from "./quota.js";
import type { GcRunRow } from "./runs.js";
import { failAbandonedRuns } from "./runs.js";
import { type StorehouseUsage, storehouseUsage } from "./usage.js";

/** 03:17 every night: off the hour, when cron jobs of other software pile up. */
export const DEFAULT_GC_SCHEDULE = "17 3 * * *";
/** How often batched narinfo accesses are written. */
export const ACCESS_FLUSH_MS = 30_000;
const USAGE_TTL_MS = 30_000;

export interface GcServiceOptions {
  storehouse: GcStore;
  logger: Logger;
  /** Several servers: only the leader runs the schedule (default: this one). */
  leading?: () => boolean;
  /** DATA_DIR/nix-root: collected by Nix's GC after each whole-Storehouse run. */
  nixRootDir?: string;
  /** `--gc-schedule CRON`; "off" runs none. */
  schedule: string;
  /** `--storehouse-target SIZE`: scheduled and asked-for runs stop once under it; null: take all unreachable. */
  targetBytes: number | null;
  quota?: QuotaGuard | undefined;
  /** Tests only: one path per batch, and this pause after each. */
  testBatchDelayMs?: number;
  /** Several servers: one collection at a time across all of them (LOCK.gc), whoever asked. */
  locks?: ServerLocks | undefined;
}

export type GcRequest = Pick<GcOptions, "dryRun" | "orgId"> & { trigger: string };

export class GcService {
  readonly #opts: GcServiceOptions;
  #job: Cron | undefined;
  #flush: NodeJS.Timeout | undefined;
  #running: Promise<GcReport> | undefined;
  #usage: { at: number; value: Promise<StorehouseUsage> } | undefined;

  constructor(opts: GcServiceOptions) {
    this.#opts = opts;
  }

  get schedule(): string {
    return this.#opts.schedule;
  }

  get targetBytes(): number | null {
    return this.#opts.targetBytes;
  }

  /** Next scheduled run, or null when the schedule is off. */
  nextRun(): Date | null {
    return this.#job?.nextRun() ?? null;
  }

  async start(): Promise<void> {
    const { storehouse, logger, locks } = this.#opts;
    // A run another server has going is not abandoned: recover only when no server collects (the next run
    // recovers too, under the same lock).
    if (!locks || (await locks.tryHold(LOCK.gc))) {
      try {
        await this.#recover();
      } finally {
        await locks?.release(LOCK.gc);
      }
    }
    this.#flush = setInterval(() => {
      storehouse.access
        .flush(storehouse.db)
        .catch((err) => logger.error({ err }, "writing narinfo access times failed"));
    }, ACCESS_FLUSH_MS);
    this.#flush.unref();
    if (this.#opts.schedule !== "off")
      this.#job = new Cron(this.#opts.schedule, { protect: true, catch: true }, async () => {
        if (this.#opts.leading?.() === false) return; // another server collects
        await this.run({ dryRun: false, orgId: null, trigger: "schedule" }).catch((err) =>
          logger.error({ err }, "scheduled GC failed"),
        );
      });
  }

  async stop(): Promise<void> {
    this.#job?.stop();
    this.#job = undefined;
    if (this.#flush) clearInterval(this.#flush);
    await this.#opts.storehouse.access.flush(this.#opts.storehouse.db).catch(() => undefined);
  }

  /** A killed run's row marked failed, its started deletions finished. Only while holding LOCK.gc. */
  async #recover(): Promise<void> {
    const { storehouse, logger } = this.#opts;
    const abandoned = await failAbandonedRuns(storehouse.db);
    const replayed = await replayJournal(storehouse);
    if (abandoned > 0 || replayed.finished > 0)
      logger.warn(
        { abandonedRuns: abandoned, finished: replayed.finished, dropped: replayed.dropped },
        "GC: a run was cut short (server killed); finished the deletions it had started",
      );
  }

  /**
   * One collection at a time, across every server: a second asked for meanwhile (here, or on another server of
   * the fleet) waits for the first, then runs.
   */
  async run(req: GcRequest): Promise<GcReport> {
    while (this.#running) await this.#running.catch(() => undefined);
    const started = this.#runHolding(req);
    this.#running = started;
    try {
      return await started;
    } finally {
      if (this.#running === started) this.#running = undefined;
      this.#usage = undefined;
      this.#opts.quota?.invalidate();
    }
  }

  async #runHolding(req: GcRequest): Promise<GcReport> {
    const locks = this.#opts.locks;
    const release = locks ? await locks.hold(LOCK.gc) : undefined;
    try {
      // A server killed mid-run left its row `running`; whoever holds the lock next says so.
      if (locks && !req.dryRun) await failAbandonedRuns(this.#opts.storehouse.db);
      return await this.#collect(req);
    } finally {
      await release?.();
    }
  }

  async #collect(req: GcRequest): Promise<GcReport> {
    const { storehouse, logger, targetBytes } = this.#opts;
    const delay = this.#opts.testBatchDelayMs ?? 0;
    const slow =
      delay > 0 ? { batchSize: 1, afterBatch: () => new Promise<void>((ok) => setTimeout(ok, delay)) } : {};
    const nixRootDir = this.#opts.nixRootDir;
    const report = await runGc(storehouse, logger, {
      ...req,
      targetBytes,
      nixRootDir,
      ...slow,
    });
    if (!req.dryRun)
      logger.info(
        {
          gcRun: report.runId,
          trigger: req.trigger,
          paths: report.paths,
          bytes: report.bytes,
          spared: report.spared,
          resumed: report.resumed,
          durationMs: report.durationMs,
        },
        "GC finished",
      );
    return report;
  }

  /** The whole Storehouse's usage, measured at most every USAGE_TTL_MS (pages ask for it at each view). */
  cachedUsage(): Promise<StorehouseUsage> {
    if (this.#usage && Date.now() - this.#usage.at < USAGE_TTL_MS) return this.#usage.value;
    const value = this.usage(null);
    value.catch(() => {
      this.#usage = undefined;
    });
    this.#usage = { at: Date.now(), value };
    return value;
  }

  usage(orgId: number | null): Promise<StorehouseUsage> {
    return storehouseUsage(this.#opts.storehouse, { orgId, targetBytes: this.#opts.targetBytes });
  }

  get running(): boolean {
    return this.#running !== undefined;
  }
}

export type { GcReport, GcRunRow, StorehouseUsage };
