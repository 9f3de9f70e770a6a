// Wakes long-polling builder claims (POST /builder/claim with waitMs) when the queue may have changed, so an idle
// builder hears of new work at once instead of on its next poll. One per process; a wake nobody hears, or a
// change that never signals (a requeue by the sweeper), costs a waiting claim at most one RECHECK_MS, never a build.

/** A waiting claim looks at the queue again at least this often, signal or not. */
export const RECHECK_MS = 500;

const waiters = new Set<() => void>();

/** Builds may have become claimable (queued, or a dependency finished): every waiting claim looks again. */
export function queueChanged(): void {
  for (const wake of [...waiters]) wake();
}

/** Resolves on the next queueChanged(), after `ms`, or when `signal` aborts, whichever comes first. */
export function nextQueueChange(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      waiters.delete(done);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    waiters.add(done);
    signal?.addEventListener("abort", done, { once: true });
  });
}
