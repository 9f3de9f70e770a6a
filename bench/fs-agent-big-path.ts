// One file of a big store path: bytes and time to read it through `flox agent`, fetched file by file (Range
// from the uncompressed NAR, checked by the signed listing's sha256) beside the same agent fetching the whole
// path (--file-fetch-from above its size) and a stock Nix client substituting the path (`nix-store -r`).
// Prints figures; asserts nothing. Run as root with /dev/fuse, after a build:
// `npx tsc -p tsconfig.json && node dist/bench/fs-agent-big-path.js` (BENCH_FILES, BENCH_MIB_EACH to scale).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseNarInfo } from "../lib/narinfo.js";
import { copyToServer, forceUnmount, startAgent, startServer, substituteWithNix } from "../testing/agent.js";
import { createNixTestStore } from "../testing/nix-store.js";
import { emitFigures } from "./figures-out.js";

const FILES = Number(process.env.BENCH_FILES ?? 16);
const MIB_EACH = Number(process.env.BENCH_MIB_EACH ?? 16);
/** Rounds per figure, each with a fresh agent cache and a fresh Nix store; the figures are medians. */
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 1) || 1);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? Number.NaN) : ((s[m - 1] ?? Number.NaN) + (s[m] ?? Number.NaN)) / 2;
};

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "flox-bench-big-"));
  const server = await startServer();
  const src = await createNixTestStore();
  const mnt = join(work, "mnt");
  try {
    const big = await src.buildOne(
      `run "big-path" ''
        mkdir -p $out/share
        for i in $(seq 1 ${FILES}); do dd if=/dev/urandom of=$out/share/part$i bs=1048576 count=${MIB_EACH} 2>/dev/null; done
      ''`,
    );
    await copyToServer(src, server, [big], "none");
    const info = parseNarInfo(await (await fetch(`${server.url}/cache/${big.slice(11, 43)}.narinfo`)).text());
    const file = `${big}/share/part7`;
    const want = readFileSync(src.realPath(file));
    console.log(`one ${MIB_EACH} MiB file of a ${FILES}-file path (NAR ${mib(info.narSize)}, uncompressed):`);

    const agentMs: { file: number[]; whole: number[] } = { file: [], whole: [] };
    const nixMs: number[] = [];
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
        const t = process.hrtime.bigint();
        const got = readFileSync(join(mnt, file.slice(11)));
        const ms = Number(process.hrtime.bigint() - t) / 1e6;
        const st = await agent.status();
        await agent.stop();
        if (!got.equals(want)) throw new Error(`${label}: the bytes read differ from the file`);
        agentMs[fetchFrom === "1M" ? "file" : "whole"].push(ms);
        console.log(
          `  ${label}: ${ms.toFixed(0)} ms, ${mib(st.remote.bytesFetched)} fetched (${st.remote.rangeRequests} range, ${st.remote.narRequests} NAR requests)`,
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
        `median of ${ROUNDS}: file by file ${median(agentMs.file).toFixed(0)} ms, whole path ${whole.toFixed(0)} ms, nix-store -r ${nix.toFixed(0)} ms`,
      );
    emitFigures([
      {
        id: "agent-whole-nar",
        unit: "ms",
        ours: whole,
        peer: nix,
        peerLabel: "stock nix-store -r, same path",
        how: `median of ${ROUNDS}, ${mib(info.narSize)} NAR`,
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
