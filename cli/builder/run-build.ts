// One claimed build under its lease: the log streamed, heartbeats, the time and silence limits, nix-store
// --realise, the outputs uploaded to the Storehouse (upload-outputs.ts), and the report.
import type { ChildProcess } from "node:child_process";
import type { BuildResultBody, ClaimedBuild } from "../../lib/api/builders.js";
import { retry } from "../../lib/retry.js";
import { api, LeaseLostError, notDelivered, serverAway } from "./builder-api.js";
import type { Env } from "./builder-env.js";
import { killGroup, spawnNix } from "./nix-process.js";
import { UploadError, uploadOutputs } from "./upload-outputs.js";

/** Nix's exit codes for a build that ran and failed (100), timed out (101), mismatched a hash (102), … */
const BUILD_FAILURE_EXIT = new Set([100, 102, 104]);
const TIMEOUT_EXIT = 101;
const LOG_FLUSH_MS = 500;
/** Asking a server that is away again: 250 ms doubling to 2 s apart, for as long as `shouldRetry` says. */
const AWAY_RETRY = { attempts: Number.POSITIVE_INFINITY, firstDelayMs: 250, maxDelayMs: 2000 } as const;
/** How much of a build's log the builder holds while its server is away. */
const LOG_HOLD_BYTES = 4 << 20;

/**
 * Where a build's time went, printed as one line when it ends (`build N: phases (ms) realise=… upload=… …`): the
 * per-build overhead beyond Nix's own work is measured from these (bench/push-to-built reads them).
 */
class Phases {
  readonly #start = Date.now();
  #mark = this.#start;
  readonly #spent: [string, number][] = [];
  /** The phase that just ended took from the previous mark until now. */
  end(phase: string): void {
    const now = Date.now();
    this.#spent.push([phase, now - this.#mark]);
    this.#mark = now;
  }
  line(id: number): string {
    const parts = this.#spent.map(([p, ms]) => `${p}=${ms}`);
    return `build ${id}: phases (ms) ${parts.join(" ")} total=${Date.now() - this.#start} received=${this.#start}`;
  }
}

/** Runs one claimed build to its report; `nixDone` is called once Nix has exited (what is left: upload, report). */
export async function runBuild(
  e: Env,
  build: ClaimedBuild,
  leaseId: string,
  leaseSeconds: number,
  signal?: AbortSignal,
  nixDone?: () => void,
) {
  const id = build.id;
  const phases = new Phases();
  let pending: Buffer[] = [];
  let lastOutput = Date.now();
  let flushing: Promise<void> = Promise.resolve();
  let leaseLost = false;
  /** The last time the server renewed the lease: until a lease's length after it, the build is still ours. */
  let renewedAt = Date.now();
  const leaseMayLast = () => Date.now() < renewedAt + leaseSeconds * 1000;
  let stopReason: "cancel" | "timeout" | "silent" | "lease" | "shutdown" | undefined;
  let current: ChildProcess | undefined;

  const output = (chunk: Buffer) => {
    lastOutput = Date.now();
    pending.push(chunk);
  };
  const note = (line: string) => output(Buffer.from(`flox builder: ${line}\n`));
  const pendingBytes = () => pending.reduce((n, b) => n + b.length, 0);
  const flush = () => {
    flushing = flushing.then(async () => {
      if (pending.length === 0 || leaseLost) return;
      const chunk = Buffer.concat(pending);
      pending = [];
      try {
        await api(e, `sending the log of build ${id}`, (c) => c.appendBuildLog(id, leaseId, chunk));
      } catch (err) {
        if (err instanceof LeaseLostError) leaseLost = true;
        else {
          // The server is away: the chunk waits for the next flush (a few MiB at most), so the lines written in an
          // outage (the result, the retries) are in the log once it is back.
          if (notDelivered(err) && pendingBytes() + chunk.length <= LOG_HOLD_BYTES) pending.unshift(chunk);
          e.say(`build ${id}: sending the log failed: ${(err as Error).message}`);
        }
      }
    });
    return flushing;
  };
  /** Aborted by a stop: the upload of the outputs runs in this process, not in a child to kill. */
  const uploading = new AbortController();
  const stop = (why: NonNullable<typeof stopReason>) => {
    stopReason ??= why;
    if (current) killGroup(current);
    uploading.abort();
  };

  const started = Date.now();
  const logTimer = setInterval(() => void flush(), LOG_FLUSH_MS);
  const beatMs = Math.max(500, Math.min(5000, (leaseSeconds * 1000) / 3));
  const beat = setInterval(() => {
    void (async () => {
      try {
        const res = await api(e, `heartbeat of build ${id}`, (c) => c.heartbeat(id, leaseId));
        renewedAt = Date.now();
        if (res.cancel) {
          note("the build was cancelled on the server; stopping");
          stop("cancel");
        }
      } catch (err) {
        if (err instanceof LeaseLostError) {
          leaseLost = true;
          stop("lease");
        } else e.say(`build ${id}: heartbeat failed: ${(err as Error).message}`);
      }
    })();
  }, beatMs);
  const watch = setInterval(() => {
    const now = Date.now();
    if (now - started > build.timeoutSeconds * 1000) {
      note(`timed out after ${build.timeoutSeconds} s; killing the build`);
      stop("timeout");
    } else if (now - lastOutput > build.maxSilentSeconds * 1000) {
      note(`no output for ${build.maxSilentSeconds} s; killing the build`);
      stop("silent");
    }
  }, 1000);
  const onAbort = () => stop("shutdown");
  signal?.addEventListener("abort", onAbort);

  let report: Omit<BuildResultBody, "lease">;
  try {
    note(`realising ${build.drvPath} (attempt ${build.attempt})`);
    const realise = spawnNix(
      e,
      "nix-store",
      [
        "--store",
        e.store,
        "--realise",
        build.drvPath,
        "--option",
        "timeout",
        String(build.timeoutSeconds),
        "--option",
        "max-silent-time",
        String(build.maxSilentSeconds),
        // The server that just handed out the build is up; another in the list may not be.
        "--option",
        "substituters",
        `${e.server}/cache`,
      ],
      output,
    );
    current = realise.child;
    if (stopReason) killGroup(realise.child);
    const r = await realise.exit;
    current = undefined;
    phases.end("realise");
    nixDone?.();
    if (stopReason === "timeout" || stopReason === "silent" || (!stopReason && r.code === TIMEOUT_EXIT)) {
      report = { status: "timed-out", message: "the build ran over its time limit or was silent too long" };
    } else if (stopReason) {
      report = { status: "failed", infrastructureError: `the builder stopped the build (${stopReason})` };
    } else if (r.code !== 0 && r.code !== null && BUILD_FAILURE_EXIT.has(r.code)) {
      report = { status: "failed", message: `nix-store --realise exited ${r.code}` };
    } else if (r.code !== 0) {
      report = {
        status: "failed",
        infrastructureError: `nix-store --realise exited ${r.code ?? r.signal} before the build could run`,
      };
    } else {
      note("uploading the outputs to the Storehouse");
      // Asking first moves e.server past a server that went away during the build: the upload goes to one URL.
      await e.client.health().catch(() => {});
      phases.end("health");
      const upload = (server: string) =>
        uploadOutputs(
          { store: e.store, server, token: e.token },
          Object.values(build.outputs),
          uploading.signal,
        );
      try {
        // The build is done: a server that died or answers 5xx mid-upload is waited out, or the next one of --server
        // takes the upload, in this attempt, for as long as the lease may last (the heartbeats go on meanwhile).
        const uploadAgain = (err: Error) =>
          !stopReason && err instanceof UploadError && err.serverAway && leaseMayLast();
        let to = e.server;
        await retry(
          () => {
            to = e.server;
            return upload(to);
          },
          {
            ...AWAY_RETRY,
            shouldRetry: uploadAgain,
            onFailedAttempt: async (err) => {
              if (!uploadAgain(err)) return;
              await e.client.health().catch(() => {});
              const line = `uploading to ${to} failed (${err.message}); trying again on ${e.server}`;
              note(line);
              e.say(`build ${id}: ${line}`);
            },
            signal: uploading.signal,
          },
        );
        report = stopReason
          ? { status: "failed", infrastructureError: `the builder stopped the build (${stopReason})` }
          : { status: "succeeded" };
      } catch (err) {
        const why = stopReason ? `the builder stopped the build (${stopReason})` : (err as Error).message;
        note(`uploading the outputs failed: ${why}`);
        report = { status: "failed", infrastructureError: `uploading the outputs failed: ${why}` };
      }
      phases.end("upload");
    }
  } finally {
    clearInterval(logTimer);
    clearInterval(beat);
    clearInterval(watch);
    signal?.removeEventListener("abort", onAbort);
  }
  if (stopReason === "cancel" || stopReason === "lease" || leaseLost) {
    e.say(`build ${id}: stopped (${stopReason ?? "lease"}); not reporting`);
    await flush();
    return;
  }
  note(
    `result: ${report.infrastructureError ? `infrastructure error: ${report.infrastructureError}` : report.status}`,
  );
  await flush();
  phases.end("log");
  try {
    const result = { lease: leaseId, ...report };
    // A result that never reaches the server is built again once the lease runs out: while it may last, a server
    // that is away (restarting, its database gone for a moment) is asked again.
    const reportAgain = (err: Error) => serverAway(err) && leaseMayLast();
    const state = await retry(
      async () => {
        // The log first: the report ends the lease, and with it the log's appends (held lines go out now or never).
        await flush();
        return api(e, `reporting build ${id}`, (c) => c.reportBuildResult(id, result));
      },
      {
        ...AWAY_RETRY,
        shouldRetry: reportAgain,
        onFailedAttempt: (err) => {
          if (reportAgain(err)) e.say(`build ${id}: reporting failed (${err.message}); asking again`);
        },
      },
    );
    phases.end("report");
    e.say(`build ${id}: ${report.infrastructureError ? "infrastructure error" : report.status} → ${state}`);
    e.say(phases.line(id));
  } catch (err) {
    e.say(`build ${id}: reporting failed: ${(err as Error).message}`);
  }
}
