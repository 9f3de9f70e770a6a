// Keeps the Storehouse's disk honest in the background: NARs that no accepted narinfo names are swept (uploads
// whose narinfo was refused would otherwise stay forever), and NAR files are re-hashed so that one rotted on disk is
// quarantined instead of served as signed and immutable. Both run at start and then on a schedule; the admin API
// can run them at once.
import { Cron } from "croner";
import type { Logger } from "pino";
import type { QuarantinedNar, Storehouse, SweepResult } from "./store.js";

export type { SweepResult } from "./store.js";

export interface MaintenanceOptions {
  storehouse: Storehouse;
  logger: Logger;
  /** Seconds between two sweeps of orphaned NARs (`--nar-sweep-every`). */
  sweepEverySeconds: number;
  /** How long an orphaned NAR or temp file is left alone, seconds (`--nar-sweep-grace`): uploads in flight. */
  sweepGraceSeconds: number;
  /** Seconds between two runs of the NAR check (`--nar-verify-every`). */
  verifyEverySeconds: number;
  /** Bytes of NAR files one run of the check reads at most (`--nar-verify-budget`); at least one file. */
  verifyBudgetBytes: number;
  /** Several servers: only the leader sweeps and checks (default: this one). */
  leading?: () => boolean;
}

export const DEFAULT_MAINTENANCE = {
  sweepEverySeconds: 600,
  sweepGraceSeconds: 3600,
  verifyEverySeconds: 3600,
  verifyBudgetBytes: 1024 ** 3,
} as const;

export interface VerifyResult {
  checked: number;
  quarantined: QuarantinedNar[];
}

export class StorehouseMaintenance {
  readonly #opts: MaintenanceOptions;
  #jobs: Cron[] = [];
  /** One sweep at a time: a scheduled one and an asked-for one share the run in progress. */
  #sweeping: Promise<SweepResult> | undefined;
  #verifying: Promise<VerifyResult> | undefined;

  constructor(opts: MaintenanceOptions) {
    this.#opts = opts;
  }

  /** Runs each task now and then every interval (croner's `interval` keeps runs that far apart; never overlapping). */
  start(): void {
    const every = (seconds: number, work: () => Promise<unknown>) => {
      const task = async () => {
        if (this.#opts.leading?.() !== false) await work();
      };
      void task();
      const startAt = new Date(Date.now() + seconds * 1000);
      return new Cron("* * * * * *", { interval: seconds, startAt, protect: true, catch: true }, async () => {
        await task();
      });
    };
    this.#jobs = [
      every(this.#opts.sweepEverySeconds, () => this.sweep()),
      every(this.#opts.verifyEverySeconds, () => this.verify()),
    ];
  }

  stop(): void {
    for (const job of this.#jobs) job.stop();
    this.#jobs = [];
  }

  /** Deletes orphaned NARs and temp files older than the grace period; logs what went. Never throws. */
  sweep(): Promise<SweepResult> {
    this.#sweeping ??= (async () => {
      const { storehouse, logger, sweepGraceSeconds } = this.#opts;
      try {
        const r = await storehouse.sweepOrphans(sweepGraceSeconds * 1000);
        if (r.nars.length > 0 || r.tmp.length > 0 || r.unreferenced.length > 0)
          logger.info(
            { nars: r.nars, tmp: r.tmp, unreferenced: r.unreferenced, store: storehouse.objects.description },
            "swept NAR files no accepted narinfo names, stale temp files and unreferenced objects",
          );
        return r;
      } catch (err) {
        logger.error({ err }, "sweeping orphaned NAR files failed");
        return { nars: [], tmp: [], unreferenced: [] };
      } finally {
        this.#sweeping = undefined;
      }
    })();
    return this.#sweeping;
  }

  /** One bounded run of the NAR check; each quarantined file is logged as an error. Never throws. */
  verify(): Promise<VerifyResult> {
    this.#verifying ??= (async () => {
      const { storehouse, logger, verifyBudgetBytes } = this.#opts;
      try {
        const r = await storehouse.verifyNars(verifyBudgetBytes);
        for (const q of r.quarantined)
          logger.error(
            {
              narFile: q.narFile,
              storePaths: q.storePaths,
              reason: q.reason,
              movedTo: `${storehouse.objects.description} quarantine/`,
            },
            "NAR file corrupt on disk: quarantined, its paths no longer served",
          );
        return r;
      } catch (err) {
        logger.error({ err }, "checking NAR files failed");
        return { checked: 0, quarantined: [] };
      } finally {
        this.#verifying = undefined;
      }
    })();
    return this.#verifying;
  }
}
