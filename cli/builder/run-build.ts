// One claimed build under its lease: the log streamed, heartbeats, the time and silence limits, nix-store
// --realise, the outputs uploaded with nix copy, and the report.
import type { ChildProcess } from "node:child_process";
import type { BuildResultBody, ClaimedBuild } from "../../lib/api/builders.js";
import { api, LeaseLostError } from "./builder-api.js";
import type { Env } from "./builder-env.js";
import { killGroup, spawnNix } from "./nix-process.js";

/** Nix's exit codes for a build that ran and failed (100), timed out (101), mismatched a hash (102), … */
const BUILD_FAILURE_EXIT = new Set([100, 102, 104]);
const TIMEOUT_EXIT = 101;
const LOG_FLUSH_MS = 500;

/** Runs one claimed build to its report. */
export async function runBuild(
  e: Env,
  build: ClaimedBuild,
  leaseId: string,
  leaseSeconds: number,
  signal?: AbortSignal,
) {
  const id = build.id;
  let pending: Buffer[] = [];
  let lastOutput = Date.now();
  let flushing: Promise<void> = Promise.resolve();
  let leaseLost = false;
  let stopReason: "cancel" | "timeout" | "silent" | "lease" | "shutdown" | undefined;
  let current: ChildProcess | undefined;

  const output = (chunk: Buffer) => {
    lastOutput = Date.now();
    pending.push(chunk);
  };
  const note = (line: string) => output(Buffer.from(`flox builder: ${line}\n`));
  const flush = () => {
    flushing = flushing.then(async () => {
      if (pending.length === 0 || leaseLost) return;
      const chunk = Buffer.concat(pending);
      pending = [];
      try {
        await api(e, `sending the log of build ${id}`, (c) => c.appendBuildLog(id, leaseId, chunk));
      } catch (err) {
        if (err instanceof LeaseLostError) leaseLost = true;
        else e.say(`build ${id}: sending the log failed: ${(err as Error).message}`);
      }
    });
    return flushing;
  };
  const stop = (why: NonNullable<typeof stopReason>) => {
    stopReason ??= why;
    if (current) killGroup(current);
  };

  const started = Date.now();
  const logTimer = setInterval(() => void flush(), LOG_FLUSH_MS);
  const beatMs = Math.max(500, Math.min(5000, (leaseSeconds * 1000) / 3));
  const beat = setInterval(() => {
    void (async () => {
      try {
        const res = await api(e, `heartbeat of build ${id}`, (c) => c.heartbeat(id, leaseId));
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
      const upload = async () => {
        // Asking first moves e.server past a server that went away: nix copy goes to one URL.
        await e.client.health().catch(() => {});
        const to = e.server;
        const copy = spawnNix(
          e,
          "nix",
          [
            "copy",
            "--store",
            e.store,
            "--to",
            // Uncompressed: Nix 2.8's br is brotli at quality 11 whatever compression-level says (a 200 MB output
            // took 8 minutes of CPU on a 2-core builder before its upload began); on the LAN between builders and
            // servers `none` is bench/README.md's measured choice, and the agent's one-file fetch can Range into it.
            `${to}/cache?compression=none`,
            ...Object.values(build.outputs),
          ],
          output,
        );
        current = copy.child;
        if (stopReason) killGroup(copy.child);
        const exit = await copy.exit;
        current = undefined;
        return { ...exit, to };
      };
      let c = await upload();
      if (c.code !== 0 && !stopReason) {
        // The server died mid-upload: the next one of --server takes it, in this attempt (the build is done).
        await e.client.health().catch(() => {});
        if (e.server !== c.to) {
          note(`uploading to ${c.to} failed; uploading to ${e.server} instead`);
          c = await upload();
        }
      }
      report =
        c.code === 0 && !stopReason
          ? { status: "succeeded" }
          : {
              status: "failed",
              infrastructureError: `uploading the outputs failed (nix copy exited ${c.code ?? c.signal})`,
            };
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
  try {
    const result = { lease: leaseId, ...report };
    const state = await api(e, `reporting build ${id}`, (c) => c.reportBuildResult(id, result));
    e.say(`build ${id}: ${report.infrastructureError ? "infrastructure error" : report.status} → ${state}`);
  } catch (err) {
    e.say(`build ${id}: reporting failed: ${(err as Error).message}`);
  }
}
