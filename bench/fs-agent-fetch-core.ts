// The agent's whole-NAR fetch without FUSE around it: the code a first open runs (CacheRemote, the worker pipeline
// of off-thread.ts, lib/nar-unpack, rename) on one big path, beside a stock `nix-store -r` of the same path and a
// plain `curl` of the NAR to /dev/null, interleaved round by round against the same server. It separates the
// pipeline's cost from the FUSE open and reads that fs-agent-big-path.ts measures too. Prints figures; asserts
// nothing. After a build: `node dist/bench/fs-agent-fetch-core.js` (BENCH_FILES, BENCH_MIB_EACH, BENCH_ROUNDS).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { OffThread } from "../fs-agent/off-thread.js";
import { fetchPathTo } from "../fs-agent/path-fetch.js";
import { CacheRemote } from "../fs-agent/remote.js";
import { removeReadOnlyTree } from "../lib/nar-unpack.js";
import { parseNarInfo } from "../lib/narinfo.js";
import { copyToServer, startServer, substituteWithNix } from "../testing/agent.js";
import { createNixTestStore } from "../testing/nix-store.js";
import { emitFigures } from "./figures-out.js";

const FILES = Number(process.env.BENCH_FILES ?? 8);
const MIB_EACH = Number(process.env.BENCH_MIB_EACH ?? 8);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 7) || 1);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? Number.NaN) : ((s[m - 1] ?? Number.NaN) + (s[m] ?? Number.NaN)) / 2;
};
const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(" ");

async function main(): Promise<void> {
  const server = await startServer();
  const src = await createNixTestStore();
  const remote = new CacheRemote({ server: server.url });
  const offThread = new OffThread();
  const work = mkdtempSync(join(tmpdir(), "flox-bench-fetch-core-"));
  try {
    const big = await src.buildOne(
      `run "big-path" ''
        mkdir -p $out/share
        for i in $(seq 1 ${FILES}); do dd if=/dev/urandom of=$out/share/part$i bs=1048576 count=${MIB_EACH} 2>/dev/null; done
      ''`,
    );
    await copyToServer(src, server, [big], "none");
    const info = parseNarInfo(await (await fetch(`${server.url}/cache/${big.slice(11, 43)}.narinfo`)).text());
    await remote.start();
    offThread.start();
    const target = join(work, "agent-fetch");
    const ms: Record<"agent" | "nix" | "curl", number[]> = { agent: [], nix: [], curl: [] };
    console.log(`${FILES} × ${MIB_EACH} MiB path, NAR uncompressed, load ${load()} at the start`);
    for (let round = 0; round <= ROUNDS; round++) {
      // Round 0 warms each up and is not counted; the order alternates so none always runs first.
      const order = round % 2 ? (["nix", "agent", "curl"] as const) : (["curl", "agent", "nix"] as const);
      for (const who of order) {
        const client = who === "nix" ? await createNixTestStore() : undefined;
        await removeReadOnlyTree(target);
        const t = process.hrtime.bigint();
        if (client) await substituteWithNix(client, server, big);
        else if (who === "curl")
          execFileSync("curl", ["-sf", "-o", "/dev/null", `${server.url}/cache/${info.url}`]);
        else {
          const progress = { path: info.storePath, total: info.narSize, done: 0, started: Date.now() };
          const c = { remote, offThread, refused: () => {} };
          await fetchPathTo(c, info, `${target}.tmp`, target, progress);
        }
        const took = Number(process.hrtime.bigint() - t) / 1e6;
        if (round > 0) ms[who].push(took);
        await client?.cleanup();
      }
    }
    const agent = median(ms.agent);
    const nix = median(ms.nix);
    console.log(
      `median of ${ROUNDS}: agent's fetch (no FUSE) ${agent.toFixed(0)} ms, nix-store -r ${nix.toFixed(0)} ms (${(nix / agent).toFixed(2)}× as fast), curl of the NAR ${median(ms.curl).toFixed(0)} ms; load ${load()} at the end`,
    );
    emitFigures([
      {
        id: "agent-fetch-core",
        unit: "ms",
        ours: agent,
        peer: nix,
        peerLabel: "stock nix-store -r, same path",
        how: `median of ${ROUNDS}, ${FILES * MIB_EACH} MiB NAR, no FUSE`,
      },
    ]);
  } finally {
    remote.close();
    await offThread.close();
    await removeReadOnlyTree(join(work, "agent-fetch")).catch(() => {});
    rmSync(work, { recursive: true, force: true });
    await server.stop();
    await src.cleanup();
  }
}

await main();
