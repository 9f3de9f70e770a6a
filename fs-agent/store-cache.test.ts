// The cache without FUSE: fetch-once, eviction under quota pressure (LRU, pins, paths in use), refetch of
// evicted paths, and recovery after a crash — against a real server holding paths built by real Nix.
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyToServer, type ServerProcess, startServer } from "../testing/agent.js";
import { createNixTestStore, type NixTestStore } from "../testing/nix-store.js";
import { CacheRemote } from "./remote.js";
import { CacheFullError, StoreCache } from "./store-cache.js";

const root = mkdtempSync(join(tmpdir(), "flox-cache-test-"));
let server: ServerProcess;
let src: NixTestStore;
let remote: CacheRemote;
const paths: string[] = [];
let size = 0;
const base = (p: string) => p.slice("/nix/store/".length);

test.before(async () => {
  server = await startServer();
  src = await createNixTestStore();
  // Six paths of about the same size (different contents).
  const outs = await src.build(
    `map (i: run "flox-gc-\${toString i}" "mkdir -p $out; seq \${toString i} 3000 > $out/data") [ 1 2 3 4 5 6 ]`,
  );
  paths.push(...outs);
  await copyToServer(src, server, paths, "br");
  remote = new CacheRemote({ server: server.url });
  await remote.start();
});

test.after(async () => {
  remote?.close();
  await server?.stop();
  await src?.cleanup();
  rmSync(root, { recursive: true, force: true });
});

async function openCache(dir: string, quotaBytes: number, lowWatermark = 0.5): Promise<StoreCache> {
  return StoreCache.open({ dir, remote, quotaBytes, highWatermark: 0.9, lowWatermark });
}

test("concurrent ensure() of one path fetches it once", async () => {
  const cache = await openCache(join(root, "once"), 10 ** 9);
  const before = remote.counters.narRequests;
  const dirs = await Promise.all(Array.from({ length: 10 }, () => cache.ensure(base(paths[0] as string))));
  assert.is(new Set(dirs).size, 1);
  assert.is(remote.counters.narRequests - before, 1);
  size = Math.max(...(await Promise.all(paths.map(async (p) => (await cache.info(base(p)))?.narSize ?? 0))));
  await cache.close();
});

test("GC under quota pressure keeps pinned paths and paths in use, evicts by LRU, refetches when touched", async () => {
  const quota = Math.floor(size * 4.5);
  const cache = await openCache(join(root, "gc"), quota, 0.7);
  const [p0, p1, p2, p3, p4, p5] = paths.map(base) as [string, string, string, string, string, string];
  await cache.pin([p0], "generation acme/dev@1");
  cache.hold(p1); // an open file
  await cache.ensure(p1);
  for (const p of [p2, p3, p4, p5]) {
    await new Promise((r) => setTimeout(r, 1100)); // distinct access times (second resolution)
    await cache.ensure(p);
    const used = cache.figures().usedBytes;
    assert.ok(used <= quota + size, `used ${used} > quota ${quota} + one path ${size}`);
    await cache.gc();
  }
  const held = cache.list();
  assert.ok(held.includes(p0), "the pinned path stays");
  assert.ok(held.includes(p1), "the path with an open file stays");
  assert.ok(held.includes(p5), "the newest stays");
  assert.not.ok(held.includes(p2), "the least recently used goes");
  assert.ok(cache.figures().evictions >= 2);
  assert.equal(readdirSync(cache.storeDir).sort(), [...held].sort());
  // An evicted path is fetched again when touched.
  const fetches = cache.figures().fetches;
  await cache.ensure(p2);
  assert.is(cache.figures().fetches, fetches + 1);
  assert.ok(cache.has(p2));
  // Unpinned and released, the old ones may go.
  cache.unpin("generation acme/dev@1");
  cache.release(p1);
  await cache.ensure(p3);
  await cache.gc(0);
  assert.is(cache.figures().usedBytes, 0);
  await cache.close();
});

test("a cache whose paths are all pinned refuses more instead of passing the quota", async () => {
  const cache = await openCache(join(root, "full"), Math.floor(size * 1.5));
  await cache.pin([base(paths[0] as string)], "download");
  await cache.pin([base(paths[1] as string)], "download"); // one path over the quota: allowed
  let refused = false;
  try {
    await cache.ensure(base(paths[2] as string));
  } catch (err) {
    refused = err instanceof CacheFullError;
  }
  assert.ok(refused);
  assert.ok(cache.figures().usedBytes <= Math.floor(size * 1.5) + size);
  await cache.close();
});

test("after a crash the index and the disk agree: leftovers are removed, recorded paths are served", async () => {
  const dir = join(root, "crash");
  const cache = await openCache(dir, 10 ** 9);
  await cache.ensure(base(paths[0] as string));
  await cache.pin(await cache.closure([base(paths[1] as string)]), "download");
  await cache.close();
  // What a crash mid-fetch leaves: a temp dir, and a dir renamed in but never recorded.
  mkdirSync(join(dir, "store", ".tmp-abc-x"));
  mkdirSync(join(dir, "store", base(paths[2] as string)));
  const again = await openCache(dir, 10 ** 9);
  assert.equal(again.list().sort(), [base(paths[0] as string), base(paths[1] as string)].sort());
  assert.equal(readdirSync(join(dir, "store")).sort(), again.list().sort());
  assert.is(again.figures().pinnedPaths, 1);
  await again.close();
});

test.run();
