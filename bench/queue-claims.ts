// Build-queue throughput, PostgreSQL beside SQLite: 20 simulated builders, each a loop of claim → report
// succeeded, drain a queue of independent builds. Direct calls into server/builds/queue.ts (claimBuild,
// finishBuild), not HTTP: in one process on 2 cores the HTTP layer (hono, token lookup, zod) would share the event
// loop and blur the difference that the database makes. Each claim and result is its own transaction, as served.
// Run after a build: `node dist/bench/queue-claims.js [builds] [rounds]` (default 2,000 builds, 3 rounds).
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { claimBuild, finishBuild } from "../server/builds/queue.js";
import { openDatabase } from "../server/db/open.js";
import { builds, cachePaths } from "../server/db/tables.js";
import { load, median, printBeside, reportSide, runBothDialects, sideDatabase } from "./dialects.js";

const BUILDS = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 3);
const BUILDERS = 20;

/** 32 characters of Nix's base32 alphabet, distinct per `n`. */
function nixHash(n: number): string {
  const alphabet = "0123456789abcdfghijklmnpqrsvwxyz";
  let s = "";
  for (let x = n; s.length < 32; x = Math.floor(x / 32) + s.length * 7919) s += alphabet[x % 32];
  return s;
}

async function side(url: string): Promise<void> {
  const { db, close } = await openDatabase(url);
  const rates: number[] = [];
  const latencies: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Queued builds whose outputs are in the Storehouse already, so "succeeded" is accepted as from a builder.
    for (let i = 0; i < BUILDS; i += 500) {
      const ids = Array.from({ length: Math.min(500, BUILDS - i) }, (_, k) => round * BUILDS + i + k);
      await db.insert(cachePaths).values(
        ids.map((n) => ({
          hash: nixHash(n),
          storePath: `/nix/store/${nixHash(n)}-bench-${n}`,
          narFile: `nar/${nixHash(n)}.nar`,
          narHash: "sha256:0000000000000000000000000000000000000000000000000000",
          narSize: 1,
          fileSize: 1,
          compression: "none",
          references: [],
        })),
      );
      await db.insert(builds).values(
        ids.map((n) => ({
          drvPath: `/nix/store/${nixHash(n + 10_000_000)}-bench-${n}.drv`,
          system: "x86_64-linux",
          requiredFeatures: [],
          outputs: { out: `/nix/store/${nixHash(n)}-bench-${n}` },
          state: "queued" as const,
        })),
      );
    }
    let done = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: BUILDERS }, async (_, b) => {
        const req = { builderName: `bench-${b}`, systems: ["x86_64-linux"], features: [], maxJobs: 1 };
        for (;;) {
          const c0 = performance.now();
          const claimed = await claimBuild(db, req);
          latencies.push(performance.now() - c0);
          if (!claimed) return;
          await finishBuild(db, claimed.id, claimed.leaseId, { status: "succeeded" });
          done++;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    if (done !== BUILDS) throw new Error(`round ${round}: ${done} of ${BUILDS} builds went through`);
    rates.push(done / seconds);
    console.log(
      `  round ${round + 1}: ${done} builds claimed and finished in ${seconds.toFixed(2)} s (load ${load()})`,
    );
  }
  await close();
  reportSide({ claimsPerSecond: median(rates), claimMs: median(latencies) });
}

const url = sideDatabase();
if (url) await side(url);
else {
  console.log(
    `${BUILDERS} builders draining ${BUILDS} independent builds (claim, then report succeeded), ${ROUNDS} rounds; direct queue.ts calls`,
  );
  const both = await runBothDialects(fileURLToPath(import.meta.url), process.argv.slice(2));
  printBeside("claims (claim + result) per second, median", both, "claimsPerSecond", "/s");
  printBeside("one claim transaction, median", both, "claimMs", "ms");
  console.log(`load after: ${load()}`);
}
