// Polling until something holds, for tests and benchmarks that watch a real server, builder or agent work.

/**
 * Polls `probe` every 200 ms (or `intervalMs`: short to catch a process mid-way) until it gives a truthy value; on
 * timeout throws with `explain()`'s text.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number; explain?: () => string } = {},
): Promise<T> {
  const until = Date.now() + (opts.timeoutMs ?? 120_000);
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until)
      throw new Error(`timed out waiting for ${what}${opts.explain ? `\n${opts.explain()}` : ""}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}
