// Retrying with exponential backoff, in one place: `retry` (on p-retry) for a call tried a few times, `Backoff`
// for the reconnect loops that wait longer after each failure and start over after a success.
import pRetry from "p-retry";

export interface RetryOptions {
  /** Tries in all, the first included (Infinity: until one succeeds or `signal` aborts). */
  attempts: number;
  /** The wait before the second try; each later wait is twice the one before. */
  firstDelayMs: number;
  /** No wait is longer than this (default: no cap). */
  maxDelayMs?: number;
  /** Whether an error is worth another try (default: every error is). The last try's error is thrown as it is. */
  shouldRetry?: (err: Error) => boolean;
  /** No try starts later than this after the first (default: no limit): a budget of time rather than of tries. */
  maxRetryTimeMs?: number;
  /** Told of every failed try (the try's number from 1), before `shouldRetry` decides. */
  onFailedAttempt?: (err: Error, attempt: number) => void | Promise<void>;
  /** Stops the waits and the tries: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * p-retry gives up at once on a TypeError that is not a network error (a bug, it assumes); our callers decided
 * which errors to retry, so such an error travels wrapped through p-retry and is unwrapped before anyone sees it.
 */
class Carried extends Error {
  constructor(readonly carried: Error) {
    super(carried.message);
  }
}

const unwrap = (err: unknown): unknown => (err instanceof Carried ? err.carried : err);

/** Calls `fn` (with the try's number, from 1) until it resolves, an error is not worth retrying, or tries run out. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  try {
    return await pRetry(
      async (attempt) => {
        try {
          return await fn(attempt);
        } catch (err) {
          throw err instanceof TypeError ? new Carried(err) : err;
        }
      },
      {
        retries: o.attempts - 1,
        factor: 2,
        minTimeout: o.firstDelayMs,
        maxTimeout: o.maxDelayMs ?? Number.POSITIVE_INFINITY,
        randomize: false,
        shouldRetry: ({ error }) => (o.shouldRetry ? o.shouldRetry(unwrap(error) as Error) : true),
        ...(o.maxRetryTimeMs !== undefined ? { maxRetryTime: o.maxRetryTimeMs } : {}),
        ...(o.onFailedAttempt
          ? {
              onFailedAttempt: ({ error, attemptNumber }) =>
                o.onFailedAttempt?.(unwrap(error) as Error, attemptNumber),
            }
          : {}),
        signal: o.signal,
      },
    );
  } catch (err) {
    throw unwrap(err);
  }
}

/**
 * The waits of a loop that reconnects for as long as it runs: `next()` gives the wait before the next try and
 * doubles the one after (up to `maxMs`); `reset()` starts over after a connection that held. With `jitter`, each
 * wait is scaled by a random factor in [0.5, 1), so that clients cut off together do not return together.
 */
export class Backoff {
  #delay: number;

  constructor(readonly o: { firstMs: number; maxMs: number; jitter?: boolean }) {
    this.#delay = o.firstMs;
  }

  next(): number {
    const wait = this.o.jitter ? Math.round(this.#delay * (0.5 + Math.random() / 2)) : this.#delay;
    this.#delay = Math.min(this.#delay * 2, this.o.maxMs);
    return wait;
  }

  reset(): void {
    this.#delay = this.o.firstMs;
  }
}
