/**
 * GC against a live Storehouse: an upload (`nix copy`) and a stock `nix-store -r` while a collection deletes, and a
 * kill -9 in the middle of one. After each: no narinfo without its NAR, no row without its files, no closure with a
 * hole; after the restart the killed run's deletions are finished and the next run takes the rest.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { copyToServer, substituteWithNix } from "../../../testing/agent.js";
import { queryDb, runFlox } from "../../../testing/ci-harness.js";
import { createNixTestStore, type NixTestStore } from "../../../testing/nix-store.js";
import { startTestServer, type TestServer } from "../../../testing/server.js";
import { narinfoStatus, storehouseProblems, uploadPath } from "../../../testing/storehouse-state.js";
import { prepareUpload, type Upload } from "../../../testing/storehouse-uploads.js";
import { waitFor } from "../../../testing/wait-for.js";

const DELAY_MS = "100";
let srv: TestServer;
let src: NixTestStore;
let client: NixTestStore;
let dataDir = "";
let builderToken = "";
let kept: Upload[] = [];

const serverOpts = () => ({
  dataDir,
  args: ["--gc-schedule", "off"],
  env: { FLOX_TEST_GC_BATCH_DELAY_MS: DELAY_MS },
});

/** `chains` chains of `length` unreachable paths, each referencing the one before (the GC must go top-down). */
async function uploadGarbage(chains: number, length: number): Promise<Upload[]> {
  const all: Upload[] = [];
  for (let c = 0; c < chains; c++) {
    let below: Upload | undefined;
    for (let i = 0; i < length; i++) {
      const u: Upload = await prepareUpload(
        `garbage-${c}-${i}`,
        { [`f${i}`]: `chain ${c} link ${i} ${Math.random()}` },
        {
          references: below ? [below.storePath.slice(11)] : [],
        },
      );
      await uploadPath(srv.url, builderToken, u);
      all.push(u);
      below = u;
    }
  }
  return all;
}

const lastRun = () =>
  queryDb<{ id: number; state: string; paths: number }>(
    dataDir,
    "select id, state, paths from gc_runs order by id desc limit 1",
  )[0];

/** The running server as the agent helpers take it (they only use its URL). */
const proc = () => ({ url: srv.url, port: srv.port, dataDir, stop: async () => undefined });

const flox = (args: string[]) => runFlox(srv.url, srv.adminToken, src.dir, args);

function assertConsistent(where: string, allowJournaled = false) {
  const p = storehouseProblems(dataDir);
  assert.equal(p.danglingNarinfos, [], `${where}: narinfos whose NAR is gone`);
  assert.equal(p.rowsWithoutFiles, [], `${where}: rows without files`);
  assert.equal(p.incompleteClosures, [], `${where}: closures with holes`);
  if (!allowJournaled) assert.equal(p.narinfosWithoutRow, [], `${where}: narinfos without a row`);
}

test.before(async () => {
  src = await createNixTestStore();
  client = await createNixTestStore();
  dataDir = src.scratch("data");
  srv = await startTestServer(serverOpts());
  const b = await srv.api("POST", "/api/v1/tokens", { scope: "builder" });
  builderToken = b.body.secret;
  // What is kept: a pinned path and its dependency (a real NAR a stock Nix can substitute).
  const dep = await prepareUpload("kept-dep", { "dep.txt": "dependency\n" });
  const top = await prepareUpload(
    "kept-top",
    { "top.txt": "top\n" },
    { references: [dep.storePath.slice(11)] },
  );
  await uploadPath(srv.url, builderToken, dep);
  await uploadPath(srv.url, builderToken, top);
  kept = [dep, top];
  const pin = await flox(["pin", "add", top.storePath, "--name", "kept"]);
  assert.is(pin.exitCode, 0, pin.stderr);
});

test.after(async () => {
  await srv?.stop();
  await src?.cleanup();
  await client?.cleanup();
});

test("an upload and a stock nix-store -r during a collection both succeed; what they touched stays", async () => {
  const garbage = await uploadGarbage(10, 10);
  const dry = JSON.parse((await flox(["gc", "--dry-run", "--json"])).stdout).gc;
  assert.is(dry.paths, 100, "the dry run names every unreachable path");
  assert.is(dry.roots.pin, 1);
  assert.is(await narinfoStatus(srv.url, garbage[0]?.storePath ?? ""), 200, "a dry run deletes nothing");

  const running = srv.api("POST", "/api/v1/storehouse/gc", {});
  await waitFor("the collection to delete its first batches", () => (lastRun()?.paths ?? 0) >= 3);
  assert.is(lastRun()?.state, "running");

  // While it runs: a new path uploaded by a stock `nix copy`, a stock client substituting the pinned closure, and a
  // narinfo of a garbage path asked for (if it is still there, it stays for this run).
  const file = join(src.dir, "during-gc.txt");
  await writeFile(file, `uploaded during GC ${Date.now()}\n`);
  const added = (await src.run("nix-store", ["--add", file])).trim();
  const late = garbage[95] as Upload;
  const [, , lateStatus] = await Promise.all([
    copyToServer(src, proc(), [added], "br"),
    substituteWithNix(client, proc(), kept[1]?.storePath ?? ""),
    narinfoStatus(srv.url, late.storePath),
  ]);
  assert.is(lastRun()?.state, "running", "the upload and the substitution happened while GC was running");

  const report = (await running).body.gc;
  assert.ok(report.paths >= 90 && report.paths <= 100, `collected ${report.paths}`);
  assert.is(await narinfoStatus(srv.url, added), 200, "the path uploaded during GC is there");
  for (const k of kept)
    assert.is(await narinfoStatus(srv.url, k.storePath), 200, "the pinned closure is there");
  if (lateStatus === 200) {
    assert.is(await narinfoStatus(srv.url, late.storePath), 200, "a path served during the run stays for it");
    assert.ok(report.spared >= 1);
  }
  assert.is(await narinfoStatus(srv.url, garbage[0]?.storePath ?? ""), 404);
  assertConsistent("after a collection with traffic");
});

test("kill -9 mid-collection: nothing referenced is lost, no narinfo dangles, the restart finishes, the next run the rest", async () => {
  await uploadGarbage(10, 10);
  const before = queryDb<{ n: number }>(dataDir, "select count(*) as n from cache_paths")[0]?.n ?? 0;
  const previous = lastRun()?.id ?? 0;
  const running = srv.api("POST", "/api/v1/storehouse/gc", {}).catch(() => undefined);
  await waitFor("the collection to be under way", () => {
    const run = lastRun();
    return run !== undefined && run.id > previous && run.paths >= 20;
  });
  srv.process.kill("SIGKILL");
  await running;
  await new Promise((r) => setTimeout(r, 200));
  // Straight off the disk, the server dead: the cut may leave a journaled narinfo whose row is gone, never a
  // narinfo without its NAR, nor a row whose closure has a hole.
  assertConsistent("right after kill -9", true);
  const midway = queryDb<{ n: number }>(dataDir, "select count(*) as n from cache_paths")[0]?.n ?? 0;
  assert.ok(midway < before && midway > kept.length + 1, `cut mid-run: ${before} → ${midway} rows`);

  srv = await startTestServer(serverOpts());
  assertConsistent("after the restart");
  assert.equal(queryDb(dataDir, "select * from gc_journal"), [], "the journal was replayed");
  assert.is(lastRun()?.state, "failed", "the killed run is recorded as cut short");

  const again = await flox(["gc", "--json"]);
  assert.is(again.exitCode, 0, again.stderr);
  const report = JSON.parse(again.stdout).gc;
  assert.ok(report.paths > 0);
  const left = queryDb<{ store_path: string }>(dataDir, "select store_path from cache_paths").map(
    (r) => r.store_path,
  );
  assert.ok(!left.some((p) => p.includes("-garbage-")), `garbage left: ${left.join(", ")}`);
  for (const k of kept) assert.ok(left.includes(k.storePath));
  assertConsistent("after the next run");
  const fresh = await createNixTestStore();
  try {
    await substituteWithNix(fresh, proc(), kept[1]?.storePath ?? "");
  } finally {
    await fresh.cleanup();
  }
});

test("removing the pin lets its closure go", async () => {
  const removed = await flox(["pin", "remove", "kept"]);
  assert.is(removed.exitCode, 0, removed.stderr);
  const report = JSON.parse((await flox(["gc", "--json"])).stdout).gc;
  assert.ok(report.paths >= 2);
  for (const k of kept) assert.is(await narinfoStatus(srv.url, k.storePath), 404);
  assertConsistent("after the pin went");
});

test.run();
