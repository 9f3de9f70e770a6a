// One file of a big store path: bytes and time to read it through `flox agent`, fetched file by file (Range
// from the uncompressed NAR, checked by the signed listing's sha256) beside the same agent fetching the whole
// path (--file-fetch-from above its size) and a stock Nix client substituting the path (`nix-store -r`). The agent
// runs as users run it (cli/bin/flox, tuned malloc); each round starts a fresh one with an empty cache.
// Prints figures; asserts nothing. Run as root with /dev/fuse, after a build:
// `npx tsc -p tsconfig.json && node dist/bench/fs-agent-big-path.js` (BENCH_FILES, BENCH_MIB_EACH to scale).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseNarInfo } from "../lib/narinfo.js";
import { copyToServer, forceUnmount, startAgent, startServer, substituteWithNix } from "../testing/agent.js";
import { createNixTestStore } from "../testing/nix-store.js";
import { emitFigures } from "./figures-out.js";
import { median } from "./wrk.js";

const FILES = Number(process.env.BENCH_FILES ?? 16);
const MIB_EACH = Number(process.env.BENCH_MIB_EACH ?? 16);
/** Rounds per figure, each with a fresh agent cache and a fresh Nix store; the figures are medians. */
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 1) || 1);

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "flox-bench-big-"));
  const server = await startServer();
  const src = await createNixTestStore();
  const mnt = join(work, "mnt");
  try {
    // Two paths alike: the agent fetches `other` first, so that `big` is timed in an agent that has done a fetch
    // before, as a running agent has (its first fetch after start is timed too, and printed).
    const [big, other] = await Promise.all(
      ["big-path", "other-big-path"].map((name) =>
        src.buildOne(
          `run "${name}" ''
            mkdir -p $out/share
            for i in $(seq 1 ${FILES}); do dd if=/dev/urandom of=$out/share/part$i bs=1048576 count=${MIB_EACH} 2>/dev/null; done
          ''`,
        ),
      ),
    );
    if (!big || !other) throw new Error("the two paths were not built");
    await copyToServer(src, server, [big, other], "none");
    const info = parseNarInfo(await (await fetch(`${server.url}/cache/${big.slice(11, 43)}.narinfo`)).text());
    const file = `${big}/share/part7`;
    const want = readFileSync(src.realPath(file));
    console.log(`one ${MIB_EACH} MiB file of a ${FILES}-file path (NAR ${mib(info.narSize)}, uncompressed):`);

    const agentMs: { file: number[]; whole: number[]; first: number[] } = { file: [], whole: [], first: [] };
    const nixMs: number[] = [];
    const timedRead = (path: string) => {
      const t = process.hrtime.bigint();
      const got = readFileSync(path);
      return { got, ms: Number(process.hrtime.bigint() - t) / 1e6 };
    };
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [label, fetchFrom] of [
        ["flox agent, file by file", "1M"],
        ["flox agent, whole path  ", String(info.narSize + 1)],
      ] as const) {
        const agent = await startAgent(
          server.url,
          { mount: mnt, cacheDir: join(work, `cache-${fetchFrom}-${round}`) },
          ["--file-fetch-from", fetchFrom],
        );
        const first = timedRead(join(mnt, other.slice(11), "share/part7"));
        const { got, ms } = timedRead(join(mnt, file.slice(11)));
        const st = await agent.status();
        await agent.stop();
        if (!got.equals(want)) throw new Error(`${label}: the bytes read differ from the file`);
        if (first.got.length !== want.length) throw new Error(`${label}: the first path's file is not whole`);
        agentMs[fetchFrom === "1M" ? "file" : "whole"].push(ms);
        if (fetchFrom !== "1M") agentMs.first.push(first.ms);
        console.log(
          `  ${label}: ${ms.toFixed(0)} ms (the first fetch after start, another path alike: ${first.ms.toFixed(0)} ms); both: ${mib(st.remote.bytesFetched)} fetched (${st.remote.rangeRequests} range, ${st.remote.narRequests} NAR requests)`,
        );
      }

      const client = await createNixTestStore();
      try {
        const t = process.hrtime.bigint();
        await substituteWithNix(client, server, big);
        readFileSync(client.realPath(file));
        const ms = Number(process.hrtime.bigint() - t) / 1e6;
        nixMs.push(ms);
        console.log(
          `  nix-store -r (stock Nix): ${ms.toFixed(0)} ms, ${mib(info.fileSize ?? info.narSize)} fetched`,
        );
      } finally {
        await client.cleanup();
      }
    }
    const whole = median(agentMs.whole);
    const nix = median(nixMs);
    if (ROUNDS > 1)
      console.log(
        `median of ${ROUNDS}: file by file ${median(agentMs.file).toFixed(0)} ms, whole path ${whole.toFixed(0)} ms (first fetch after start ${median(agentMs.first).toFixed(0)} ms), nix-store -r ${nix.toFixed(0)} ms`,
      );
    emitFigures([
      {
        id: "agent-whole-nar",
        unit: "ms",
        ours: whole,
        peer: nix,
        peerLabel: "stock nix-store -r, same path",
        how: `median of ${ROUNDS}, ${mib(info.narSize)} NAR, an agent past its first fetch (its first: ${median(agentMs.first).toFixed(0)} ms)`,
      },
    ]);
  } finally {
    await forceUnmount(mnt);
    await server.stop();
    await src.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
