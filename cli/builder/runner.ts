// The build agent behind `flox builder`: the claim loop. Each claimed build runs under its lease in run-build.ts,
// in the chroot Nix store builder-env.ts sets up; it speaks the HTTP API only (builder-api.ts; never imports server/).
import { hostname } from "node:os";
import type { ClaimBody, ClaimResponse } from "../../lib/api/builders.js";
import { api, BuilderTokenRefusedError, pause, RETRY_MS } from "./builder-api.js";
import { type BuilderOptions, type Env, setUp } from "./builder-env.js";
import { runBuild } from "./run-build.js";
import { shrinkStore } from "./store-max.js";

/** One collection at a time: builds that end together share the one running. */
let shrinking: Promise<void> | undefined;
function shrink(e: Env, maxBytes: number): Promise<void> {
  shrinking ??= shrinkStore(e, maxBytes).finally(() => {
    shrinking = undefined;
  });
  return shrinking;
}

/**
 * How long the server may hold a claim when nothing is claimable (a long-poll): an idle builder hears of a queued
 * build within milliseconds instead of on its next poll. Well under the API client's 30 s request timeout, and
 * short enough that a revoked token stops an idle builder soon (the next claim is refused).
 */
const CLAIM_WAIT_MS = 10_000;

/**
 * Claims and runs builds until `signal` aborts. Network errors and 5xx answers are retried; a refused token (401/403,
 * on any request) stops the running builds and rejects with `BuilderTokenRefusedError`.
 */
export async function runBuilder(opts: BuilderOptions): Promise<void> {
  const stopping = new AbortController();
  let refusal: BuilderTokenRefusedError | undefined;
  const onAbort = () => stopping.abort();
  if (opts.signal?.aborted) stopping.abort();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  let e: Env;
  try {
    e = await setUp(opts, (err) => {
      refusal ??= err;
      stopping.abort();
    });
  } catch (err) {
    opts.signal?.removeEventListener("abort", onAbort);
    if (opts.signal?.aborted) return; // stopped while the server was still unreachable
    throw err;
  }
  const signal = stopping.signal;
  const maxJobs = opts.maxJobs ?? 1;
  const name = opts.name ?? `${hostname()}-${process.pid}`;
  const claim: ClaimBody = {
    builderName: name,
    systems: opts.systems,
    features: opts.features ?? [],
    maxJobs,
    waitMs: CLAIM_WAIT_MS,
  };
  const running = new Set<Promise<void>>();
  /**
   * Running builds whose Nix is done (uploading, reporting): the next claim goes out while they finish. The server
   * holds it until their report frees a lease (it leases no more than maxJobs builds to a builder at any moment),
   * and the report's queue signal answers it at once: the next build starts a claim's round trip sooner.
   */
  const finishing = new Set<Promise<void>>();
  let wake: () => void = () => {};
  let woken = new Promise<void>((r) => {
    wake = r;
  });
  const pollMs = opts.pollMs ?? 1000;
  const sleep = (ms: number) => pause(ms, signal);
  e.say(
    `flox builder ${name}: ${opts.systems.join(",")}, up to ${maxJobs} jobs, store ${e.store}, server ${e.server}`,
  );
  while (!signal.aborted) {
    if (running.size - finishing.size >= maxJobs) {
      await Promise.race([...running, woken]);
      continue;
    }
    let claimed: ClaimResponse | undefined;
    const asked = Date.now();
    try {
      claimed = (await api(e, "claiming", (c) => c.claimBuild(claim, signal))) ?? undefined;
    } catch (err) {
      if (err instanceof BuilderTokenRefusedError || signal.aborted) break;
      e.say(`claiming failed: ${(err as Error).message}; retrying`);
      await sleep(RETRY_MS);
      continue;
    }
    if (!claimed) {
      // The server held the claim until its wait was over: ask again at once. An answer much sooner means it
      // did not wait (it holds maxJobs of our leases, say): then pause as a poll would.
      if (Date.now() - asked < CLAIM_WAIT_MS / 2) await sleep(pollMs);
      continue;
    }
    const { build, lease } = claimed;
    e.say(`build ${build.id}: claimed ${build.drvPath} (attempt ${build.attempt})`);
    const nixDone = () => {
      finishing.add(job);
      wake();
      woken = new Promise<void>((r) => {
        wake = r;
      });
    };
    // A store that may have to be collected after the build is measured first: no overlapped claim then.
    const overlap = opts.storeMaxBytes === undefined ? nixDone : undefined;
    const job: Promise<void> = runBuild(e, build, lease.id, lease.seconds, signal, overlap)
      .catch((err) => e.say(`build ${build.id}: ${(err as Error).message}`))
      .then(() => (opts.storeMaxBytes === undefined ? undefined : shrink(e, opts.storeMaxBytes)))
      .finally(() => {
        running.delete(job);
        finishing.delete(job);
      });
    running.add(job);
  }
  await Promise.allSettled([...running]);
  opts.signal?.removeEventListener("abort", onAbort);
  if (refusal) throw refusal;
}
