// The agent's whole-NAR fetch without FUSE around it: the code a first open runs (CacheRemote, the worker pipeline
// of off-thread.ts, lib/nar-unpack, rename) on one big path, beside a stock `nix-store -r` of the same path and a
// plain `curl` of the NAR to /dev/null, interleaved round by round against the same server. It separates the
// pipeline's cost from the FUSE open and reads that fs-agent-big-path.ts measures too. Prints figures; asserts
// nothing. After a build: `node dist/bench/fs-agent-fetch-core.js` (BENCH_FILES, BENCH_MIB_EACH, BENCH_ROUNDS).
//
// The agent's side runs in a process of its own, tuned as cli/bin/flox tunes the agent, that starts nothing: a
// process that forks (this one, for nix-store and curl) page-faults on every page it writes next (copy on write),
// which cost the fetch after each fork ~11,000 faults here and is no part of an agent's life.
import { execFileSync, fork } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MALLOC_TUNABLES } from "../cli/malloc-tunables.js";
import { OffThread } from "../fs-agent/off-thread.js";
import { fetchPathTo } from "../fs-agent/path-fetch.js";
import { CacheRemote } from "../fs-agent/remote.js";
import { removeReadOnlyTree } from "../lib/nar-unpack.js";
import { type NarInfo, parseNarInfo } from "../lib/narinfo.js";
import { copyToServer, startServer, substituteWithNix } from "../testing/agent.js";
import { createNixTestStore } from "../testing/nix-store.js";
import { emitFigures } from "./figures-out.js";
import { loadAverages, median } from "./wrk.js";

const FILES = Number(process.env.BENCH_FILES ?? 8);
const MIB_EACH = Number(process.env.BENCH_MIB_EACH ?? 8);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 7) || 1);

interface FetchAsk {
  server: string;
  narinfo: string;
  target: string;
}
interface FetchDone {
  ms: number;
  faults: number;
}

/** The agent's side: one fetch per message from the parent, timed here, into `target`. */
async function fetcher(): Promise<void> {
  let remote: CacheRemote | undefined;
  const offThread = new OffThread();
  offThread.start();
  process.on("message", async (ask: FetchAsk | "exit") => {
    if (ask === "exit") {
      remote?.close();
      await offThread.close();
      process.disconnect();
      return;
    }
    if (!remote) {
      remote = new CacheRemote({ server: ask.server });
      await remote.start();
    }
    const info: NarInfo = parseNarInfo(ask.narinfo);
    await removeReadOnlyTree(ask.target);
    const progress = { path: info.storePath, total: info.narSize, done: 0, started: Date.now() };
    const faults = process.resourceUsage().minorPageFault;
    const t = process.hrtime.bigint();
    await fetchPathTo(
      { remote, offThread, refused: () => {} },
      info,
      `${ask.target}.tmp`,
      ask.target,
      progress,
    );
    const done: FetchDone = {
      ms: Number(process.hrtime.bigint() - t) / 1e6,
      faults: process.resourceUsage().minorPageFault - faults,
    };
    process.send?.(done);
  });
}

async function main(): Promise<void> {
  const server = await startServer();
  const src = await createNixTestStore();
  const work = mkdtempSync(join(tmpdir(), "flox-bench-fetch-core-"));
  const agent = fork(fileURLToPath(import.meta.url), ["--fetcher"], {
    env: { ...process.env, GLIBC_TUNABLES: MALLOC_TUNABLES },
  });
  const agentFetch = (ask: FetchAsk) =>
    new Promise<FetchDone>((resolve, reject) => {
      const exited = (code: number | null) => reject(new Error(`the fetcher exited (${code})`));
      agent.once("exit", exited);
      agent.once("message", (m) => {
        agent.off("exit", exited);
        resolve(m as FetchDone);
      });
      agent.send(ask);
    });
  try {
    const big = await src.buildOne(
      `run "big-path" ''
        mkdir -p $out/share
        for i in $(seq 1 ${FILES}); do dd if=/dev/urandom of=$out/share/part$i bs=1048576 count=${MIB_EACH} 2>/dev/null; done
      ''`,
    );
    await copyToServer(src, server, [big], "none");
    const narinfo = await (await fetch(`${server.url}/cache/${big.slice(11, 43)}.narinfo`)).text();
    const info = parseNarInfo(narinfo);
    const target = join(work, "agent-fetch");
    const ms: Record<"agent" | "nix" | "curl", number[]> = { agent: [], nix: [], curl: [] };
    const faults: number[] = [];
    console.log(`${FILES} × ${MIB_EACH} MiB path, NAR uncompressed, load ${loadAverages()} at the start`);
    for (let round = 0; round <= ROUNDS; round++) {
      // Round 0 warms each up and is not counted; the order alternates so none always runs first.
      const order = round % 2 ? (["nix", "agent", "curl"] as const) : (["curl", "agent", "nix"] as const);
      for (const who of order) {
        if (who === "agent") {
          const r = await agentFetch({ server: server.url, narinfo, target });
          if (round > 0) ms.agent.push(r.ms);
          if (round > 0) faults.push(r.faults);
          continue;
        }
        const client = who === "nix" ? await createNixTestStore() : undefined;
        const t = process.hrtime.bigint();
        if (client) await substituteWithNix(client, server, big);
        else execFileSync("curl", ["-sf", "-o", "/dev/null", `${server.url}/cache/${info.url}`]);
        const took = Number(process.hrtime.bigint() - t) / 1e6;
        if (round > 0) ms[who].push(took);
        await client?.cleanup();
      }
    }
    const ours = median(ms.agent);
    const nix = median(ms.nix);
    console.log(
      `median of ${ROUNDS}: agent's fetch (no FUSE) ${ours.toFixed(0)} ms (${median(faults).toFixed(0)} page faults), nix-store -r ${nix.toFixed(0)} ms (${(nix / ours).toFixed(2)}× as fast), curl of the NAR ${median(ms.curl).toFixed(0)} ms; load ${loadAverages()} at the end`,
    );
    emitFigures([
      {
        id: "agent-fetch-core",
        unit: "ms",
        ours,
        peer: nix,
        peerLabel: "stock nix-store -r, same path",
        how: `median of ${ROUNDS}, ${FILES * MIB_EACH} MiB NAR, no FUSE, a tuned process of its own`,
      },
    ]);
  } finally {
    agent.send("exit");
    await new Promise((resolve) => agent.once("exit", resolve));
    await removeReadOnlyTree(join(work, "agent-fetch")).catch(() => {});
    rmSync(work, { recursive: true, force: true });
    await server.stop();
    await src.cleanup();
  }
}

if (process.argv.includes("--fetcher")) await fetcher();
else await main();
