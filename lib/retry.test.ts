// The retry helper keeps the semantics its callers had by hand: tries, doubling waits, which errors retry.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Backoff, retry } from "./retry.js";

test("retry: tries until one succeeds, passing the try's number", async () => {
  const seen: number[] = [];
  const out = await retry(
    async (attempt) => {
      seen.push(attempt);
      if (attempt < 3) throw new Error(`no ${attempt}`);
      return "yes";
    },
    { attempts: 4, firstDelayMs: 1 },
  );
  assert.is(out, "yes");
  assert.equal(seen, [1, 2, 3]);
});

test("retry: throws the last try's own error when tries run out", async () => {
  let tries = 0;
  const err = await retry(
    async () => {
      tries++;
      throw new Error(`no ${tries}`);
    },
    { attempts: 3, firstDelayMs: 1 },
  ).catch((e: Error) => e);
  assert.is(tries, 3);
  assert.is((err as Error).message, "no 3");
});

test("retry: an error not worth retrying ends it at once", async () => {
  class Rejected extends Error {}
  let tries = 0;
  const err = await retry(
    async () => {
      tries++;
      throw new Rejected("4xx");
    },
    { attempts: 5, firstDelayMs: 1, shouldRetry: (e) => !(e instanceof Rejected) },
  ).catch((e: Error) => e);
  assert.is(tries, 1);
  assert.instance(err, Rejected);
});

test("retry: a TypeError is retried like any error and comes out unwrapped", async () => {
  let tries = 0;
  const err = await retry(
    async () => {
      tries++;
      throw new TypeError("not a network error");
    },
    { attempts: 3, firstDelayMs: 1 },
  ).catch((e: Error) => e);
  assert.is(tries, 3);
  assert.instance(err, TypeError);
  assert.is((err as Error).message, "not a network error");
});

test("retry: waits double from the first", async () => {
  const at: number[] = [];
  await retry(
    async (attempt) => {
      at.push(performance.now());
      if (attempt < 3) throw new Error("again");
    },
    { attempts: 3, firstDelayMs: 40 },
  );
  const [a = 0, b = 0, c = 0] = at;
  assert.ok(b - a >= 35, `first wait ${b - a}`);
  assert.ok(c - b >= 75, `second wait ${c - b}`);
});

test("retry: an aborted signal stops the waits", async () => {
  const ac = new AbortController();
  const p = retry(
    async () => {
      throw new Error("down");
    },
    { attempts: Number.POSITIVE_INFINITY, firstDelayMs: 10_000, signal: ac.signal },
  );
  setTimeout(() => ac.abort(new Error("stopped")), 10);
  const err = await p.catch((e: Error) => e);
  assert.is((err as Error).message, "stopped");
});

test("retry: a time budget instead of a count of tries, each failure told (unwrapped) before the next", async () => {
  const told: Array<[string, number]> = [];
  let tries = 0;
  const err = await retry(
    async () => {
      tries++;
      throw new TypeError(`away ${tries}`);
    },
    {
      attempts: Number.POSITIVE_INFINITY,
      firstDelayMs: 20,
      maxDelayMs: 40,
      maxRetryTimeMs: 300,
      onFailedAttempt: (e, n) => {
        told.push([e.message, n]);
      },
    },
  ).catch((e: unknown) => e);
  // Unlimited tries, yet it ended: the budget did it, after several tries 20–40 ms apart.
  assert.instance(err, TypeError);
  assert.is((err as Error).message, `away ${tries}`);
  assert.ok(tries >= 4, `${tries} tries`);
  assert.equal(told[0], ["away 1", 1]);
  assert.is(told.length, tries);
});

test("Backoff: doubles up to the cap and starts over on reset", () => {
  const b = new Backoff({ firstMs: 100, maxMs: 500 });
  assert.equal([b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 500, 500]);
  b.reset();
  assert.is(b.next(), 100);
});

test("Backoff: jitter scales each wait into [half, whole)", () => {
  const b = new Backoff({ firstMs: 1000, maxMs: 30_000, jitter: true });
  for (const whole of [1000, 2000, 4000, 8000]) {
    const w = b.next();
    assert.ok(w >= whole / 2 && w <= whole, `${w} for ${whole}`);
  }
});

test.run();
