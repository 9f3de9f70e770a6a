// Storehouse GC at scale, in one run: a collection of 100,000 synthetic paths of which 10% are reachable (time and
// peak memory), beside the floor — `rm` of the same number of files with nothing decided; then narinfo throughput
// with last-access tracking on and off, alternating, over the same app.
// Run after a build: `npx tsc -p tsconfig.json && node dist/bench/storehouse-gc.js [paths] [requests]`.

import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import pino from "pino";
import { encodeNix32 } from "../lib/nix32.js";
import { createApp } from "../server/app.js";
import { openDb } from "../server/db/open.js";
import { Signals } from "../server/db/signals.js";
import { cachePaths, gcPins } from "../server/db/tables.js";
import { dataPaths } from "../server/paths.js";
import { runGc } from "../server/storehouse/gc/collect.js";
import { ensureSigningKey } from "../server/storehouse/keys.js";
import { narinfoKey, narKey } from "../server/storehouse/layout.js";
import { FileObjectStore } from "../server/storehouse/objects/file.js";
import { Storehouse } from "../server/storehouse/store.js";

const total = Number(process.argv[2] ?? 100_000);
const requests = Number(process.argv[3] ?? 20_000);
const CHAIN = 10;
const hash = () => encodeNix32(randomBytes(20));
const mib = (n: number) => `${(n / 1048576).toFixed(0)} MiB`;

const dir = mkdtempSync(join(tmpdir(), "flox-bench-gc-"));
const paths = dataPaths(dir);
for (const d of [paths.logs, paths.channels, paths.keys]) mkdirSync(d, { recursive: true });
const { db, close } = openDb(paths.db);
const key = await ensureSigningKey(paths.keys);
const storehouse = await Storehouse.open({ db, objects: new FileObjectStore(paths.store), key });
const logger = pino({ level: "silent" });

// Chains of 10, each path referencing the one below; every 10th chain's head is pinned: 10% reachable.
console.log(`making ${total.toLocaleString("en")} paths (narinfo + NAR file each)…`);
const made = Date.now();
const reachable: string[] = [];
let rows: (typeof cachePaths.$inferInsert)[] = [];
const floorDir = join(dir, "floor");
mkdirSync(floorDir);
for (let c = 0; c < total / CHAIN; c++) {
  let below: string | undefined;
  for (let i = 0; i < CHAIN; i++) {
    const h = hash();
    const base = `${h}-p${c}-${i}`;
    const narName = `${encodeNix32(randomBytes(32))}.nar`;
    const bytes = 512 + ((c * 7 + i) % 1024);
    await storehouse.objects.put(narKey(narName), randomBytes(bytes));
    await storehouse.objects.put(narinfoKey(h), `StorePath: /nix/store/${base}\nURL: nar/${narName}\n`);
    if (c % 10 !== 0) {
      // The floor's copy: the same number of files and bytes for `rm`, for the unreachable 90%.
      writeFileSync(join(floorDir, narName), randomBytes(bytes));
      writeFileSync(join(floorDir, `${h}.narinfo`), `StorePath: /nix/store/${base}\n`);
    }
    rows.push({
      hash: h,
      storePath: `/nix/store/${base}`,
      narFile: `nar/${narName}`,
      narHash: `sha256:${hash()}${hash().slice(0, 20)}`,
      narSize: bytes,
      fileSize: bytes,
      compression: "none",
      references: below ? [below] : [],
    });
    if (c % 10 === 0) reachable.push(h);
    below = base;
  }
  if (c % 10 === 0) await db.insert(gcPins).values({ storePath: `/nix/store/${below}` });
  if (rows.length >= 2000) {
    await db.insert(cachePaths).values(rows);
    rows = [];
  }
}
if (rows.length > 0) await db.insert(cachePaths).values(rows);
console.log(`made in ${((Date.now() - made) / 1000).toFixed(1)} s`);

let peakRss = 0;
let peakHeap = 0;
const sample = () => {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
};
const baseRss = process.memoryUsage().rss;
const sampler = setInterval(sample, 20);
const opts = {
  orgId: null,
  targetBytes: null,
  trigger: "bench",
};
let t = Date.now();
const dry = await runGc(storehouse, logger, { ...opts, dryRun: true });
const planMs = Date.now() - t;
t = Date.now();
const gc = await runGc(storehouse, logger, { ...opts, dryRun: false });
const gcMs = Date.now() - t;
sample();
clearInterval(sampler);
t = Date.now();
await execa("find", [floorDir, "-type", "f", "-delete"]);
const floorMs = Date.now() - t;
console.log(
  `\nGC of ${total.toLocaleString("en")} paths, ${gc.reachable.toLocaleString("en")} reachable (${dry.roots.pin} pins):` +
    `\n  plan (dry run: roots, closure, order)  ${planMs} ms, would delete ${dry.paths.toLocaleString("en")}` +
    `\n  collection                             ${(gcMs / 1000).toFixed(1)} s, deleted ${gc.paths.toLocaleString("en")} (${mib(gc.bytes)})` +
    `\n  peak RSS ${mib(peakRss)} (${mib(peakRss - baseRss)} above the start), peak heap ${mib(peakHeap)}` +
    `\n  the floor: find -delete of the same ${(gc.paths * 2).toLocaleString("en")} files  ${(floorMs / 1000).toFixed(1)} s`,
);

// Narinfo throughput: the same app, tracking on and off, alternating rounds.
const app = createApp(
  { db, paths, hookSecret: "bench", logger, signals: new Signals() },
  { storehouse: { storehouse, privateCache: false } },
);
const survivors = reachable.slice(0, 5000);
async function round(tracking: boolean): Promise<number> {
  storehouse.access.enabled = tracking;
  const start = process.hrtime.bigint();
  for (let i = 0; i < requests; i++) {
    const h = survivors[i % survivors.length];
    const res = await app.request(`http://bench/cache/${h}.narinfo`);
    if (res.status !== 200) throw new Error(`narinfo ${h}: ${res.status}`);
    await res.text();
  }
  await storehouse.access.flush(db);
  return requests / (Number(process.hrtime.bigint() - start) / 1e9);
}
const on: number[] = [];
const off: number[] = [];
for (let r = 0; r < 3; r++) {
  on.push(await round(true));
  off.push(await round(false));
}
const best = (xs: number[]) => Math.max(...xs).toFixed(0);
console.log(
  `\nnarinfo GETs (in process, ${requests.toLocaleString("en")} per round, best of 3, flush included):` +
    `\n  with last-access tracking     ${best(on)} req/s` +
    `\n  without                       ${best(off)} req/s`,
);
await close();
rmSync(dir, { recursive: true, force: true });
