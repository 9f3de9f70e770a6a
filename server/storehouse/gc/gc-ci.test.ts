/**
 * GC end to end on real CI: three pushes change a package with keep-evaluations 1 and keep-channel-days 0. After
 * `flox gc` the oldest outputs answer 404, the current closure substitutes with a stock Nix, a path only a machine's
 * live profile generation needs stays (the newest 5 generations no longer hold it), a pin keeps a path past its
 * evaluation until it is removed, logs follow their builds, and an org over its quota gets a 507 naming it.
 */
import { existsSync, readdirSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { serializeNarInfo } from "../../../lib/narinfo.js";
import { latestEvaluationId, queryDb, runFlox, waitForChannelAt } from "../../../testing/ci-harness.js";
import { type CiWorld, startCiWorld } from "../../../testing/ci-world.js";
import { runFreshNix } from "../../../testing/fresh-nix.js";
import { commitAll, push, workRepoFromFixture } from "../../../testing/repos.js";
import type { TestServer } from "../../../testing/server.js";
import { narinfoStatus } from "../../../testing/storehouse-state.js";
import { basic, prepareUpload } from "../../../testing/storehouse-uploads.js";
import { waitFor } from "../../../testing/wait-for.js";

let world: CiWorld;
let srv: TestServer;
let work = "";
const evals: number[] = [];
/** attr → out path, per pushed evaluation (index 0 = the first push). */
const outs: Record<string, string>[] = [];

const flox = (args: string[]) => runFlox(srv.url, srv.adminToken, world.tmp, args);
const floxJson = async (args: string[]) => {
  const r = await flox([...args, "--json"]);
  assert.is(r.exitCode, 0, `flox ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout);
};

async function pushC(text: string): Promise<void> {
  await writeFile(
    join(work, "pkgs", "c", "default.nix"),
    `{ writeTextFile }:\n\nwriteTextFile {\n  name = "c";\n  destination = "/share/c.txt";\n  text = "${text}\\n";\n}\n`,
  );
  await commitAll(work, `c says ${text}`);
  const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  const id = await latestEvaluationId(srv, "acme");
  await waitForChannelAt(srv, "acme", id, () => world.builder.log());
  evals.push(id);
  const jobs = queryDb<{ attr: string; outputs: string }>(
    srv.dataDir,
    "select attr, outputs from eval_jobs where evaluation_id = ?",
    id,
  );
  outs.push(Object.fromEntries(jobs.map((j) => [j.attr, JSON.parse(j.outputs).out as string])));
}

const member = (method: string, path: string, body?: unknown) => srv.api(method, path, body);
async function profileChange(action: "install" | "remove", body: object): Promise<void> {
  const r = await member("POST", `/api/v1/profiles/acme/dev/${action}`, body);
  assert.is(r.status, 200, JSON.stringify(r.body));
}
const generation = (n: number) =>
  queryDb<{ store_path: string }>(
    srv.dataDir,
    "select g.store_path from profile_generations g join profiles p on p.id = g.profile_id where p.name = 'dev' and g.number = ?",
    n,
  )[0]?.store_path ?? "";
const buildIdOf = (out: string) =>
  queryDb<{ id: number; outputs: string }>(srv.dataDir, "select id, outputs from builds").find(
    (b) => JSON.parse(b.outputs).out === out,
  )?.id;

test.before(async () => {
  world = await startCiWorld({
    prefix: "flox-gc-ci-",
    orgs: [{ name: "acme", public: true }],
    server: () => ({ args: ["--gc-schedule", "off"] }),
  });
  srv = world.srv;
  const set = await flox(["org", "set", "acme", "--keep-evaluations", "1", "--keep-channel-days", "0"]);
  assert.is(set.exitCode, 0, set.stderr);
  assert.match(set.stdout, /keeps the newest 1 evaluations per jobset and 0 days of channel points/);
  work = await workRepoFromFixture("dep-chain", world.tmp);
  await pushC("c1");

  // Generation 1 holds the first c; a machine runs it and says so.
  assert.is((await member("POST", "/api/v1/orgs/acme/profiles", { name: "dev" })).status, 201);
  await profileChange("install", { refs: ["acme#c"] });
  const machine = await srv.api("POST", "/api/v1/tokens", { scope: "machine", org: "acme", name: "m1" });
  const as = (method: string, path: string, body?: unknown) =>
    srv.api(method, path, body, machine.body.secret);
  assert.is((await as("POST", "/api/v1/machines", { name: "m1" })).status, 201);
  assert.is((await as("POST", "/api/v1/machines/me/subscriptions", { profile: "acme/dev" })).status, 201);
  const report = await as("POST", "/api/v1/machines/me/reports", {
    profile: "acme/dev",
    generation: 1,
    status: "ok",
  });
  assert.is(report.status, 204, JSON.stringify(report.body));

  await pushC("c2");
  await pushC("c3");
  // Six more generations, none with the first c after generation 2: only the machine's report keeps generation 1.
  await profileChange("install", { refs: ["acme#a"] });
  await profileChange("remove", { labels: ["c"] });
  for (let i = 0; i < 2; i++) {
    await profileChange("install", { refs: ["acme#b"] });
    await profileChange("remove", { labels: ["b"] });
  }
});

test.after(async () => {
  await world?.stop();
});

test("keep-evaluations 1: old outputs go, the current closure substitutes with stock Nix, a live generation stays, a pin holds", async () => {
  const [first, second, third] = outs as [
    Record<string, string>,
    Record<string, string>,
    Record<string, string>,
  ];
  assert.is.not(first.c, third.c, "the pushes changed c");
  assert.is(generation(7) !== "", true, "seven generations");
  const pinned = await flox(["pin", "add", second.a ?? "", "--name", "a-two", "--until", "2099-01-01"]);
  assert.is(pinned.exitCode, 0, pinned.stderr);

  const dry = (await floxJson(["gc", "--dry-run"])).gc;
  assert.ok(dry.paths > 0 && dry.bytes > 0, JSON.stringify(dry));
  assert.is(dry.roots.pin, 1);
  assert.ok(dry.roots.profile >= 6, "generations 3-7 and the machine's 1");
  assert.is(await narinfoStatus(srv.url, first.a ?? ""), 200, "a dry run deletes nothing");
  const human = await flox(["gc", "--dry-run"]);
  assert.match(human.stdout, /dry run: would free/);

  // A build's log is its pieces in the object store (the default file: one): DATA_DIR/store/logs/<build>/<offset>.
  const logPieces = (of: string) => {
    const dir = join(srv.dataDir, "store", "logs", String(buildIdOf(of)));
    return existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile()).length : 0;
  };
  assert.ok(logPieces(first.a ?? "") > 0 && logPieces(third.a ?? "") > 0, "both builds left logs");

  const gc = (await floxJson(["gc"])).gc;
  assert.is(gc.paths, dry.paths, "the run takes what the dry run said");
  assert.is(gc.nixRoot.skipped, null, "the server's nix-root was collected too");
  assert.ok(gc.nixRoot.paths > 0, "…the old evaluations' .drv files and the profiles' inputs went");
  assert.is(await narinfoStatus(srv.url, first.a ?? ""), 404, "the oldest output is gone");
  assert.is(await narinfoStatus(srv.url, second.c ?? ""), 404, "nothing kept references the second c");
  assert.is(await narinfoStatus(srv.url, generation(2)), 404, "generation 2 is neither newest-5 nor live");
  assert.is(
    await narinfoStatus(srv.url, first.c ?? ""),
    200,
    "the machine's live generation keeps the first c",
  );
  assert.is(await narinfoStatus(srv.url, generation(1)), 200);
  assert.is(await narinfoStatus(srv.url, second.a ?? ""), 200, "the pin keeps a of the second push");
  assert.is(await narinfoStatus(srv.url, second.b ?? ""), 200, "…with its closure (a runs b's file)");
  assert.is(logPieces(first.a ?? ""), 0, "the first evaluation's build log followed its build");
  assert.ok(logPieces(third.a ?? "") > 0, "the current evaluation's log stays");

  const key = (await (await fetch(`${srv.url}/cache/public-key`)).text()).trim();
  const run = await runFreshNix({
    dir: join(world.tmp, "client"),
    cacheUrl: `${srv.url}/cache`,
    key,
    script: `nix-store -r ${third.a} ${first.c} && ${third.a}/bin/a && cat ${first.c}/share/c.txt`,
  });
  assert.is(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
  assert.is(String(run.stdout).trim().split("\n").slice(-4).join("\n"), "c3\nb\na\nc1");

  const usage = (await floxJson(["storehouse", "usage", "--org", "acme"])).usage;
  assert.is(usage.orgs[0].org, "acme");
  assert.ok(usage.orgs[0].bytes > 0);
  assert.is(usage.orgs[0].keepEvaluations, 1);
  assert.is(usage.lastRun.state, "finished");
  assert.is(usage.lastRun.paths, gc.paths);
  assert.is(usage.nextGc.paths, 0, "nothing left to collect");
  const page = await fetch(`${srv.url}/-/storehouse`, {
    headers: { accept: "application/json", authorization: `Bearer ${srv.adminToken}` },
  });
  const pageGc = ((await page.json()) as { storehouse: { gc: { lastRun: { id: number } } } }).storehouse.gc;
  assert.is(pageGc.lastRun.id, gc.runId);
  const html = await (
    await fetch(`${srv.url}/-/storehouse`, { headers: { authorization: `Bearer ${srv.adminToken}` } })
  ).text();
  assert.match(html, /Garbage collection/);
  assert.match(srv.stderr() + (await serverLog()), /GC: deleted a batch of unreachable Storehouse paths/);

  const removed = await flox(["pin", "remove", "a-two"]);
  assert.is(removed.exitCode, 0, removed.stderr);
  await floxJson(["gc"]);
  assert.is(await narinfoStatus(srv.url, second.a ?? ""), 404, "without the pin it goes");
  assert.is(await narinfoStatus(srv.url, second.b ?? ""), 404);
  assert.is(await narinfoStatus(srv.url, third.a ?? ""), 200);
});

const serverLog = () => readFile(join(srv.dataDir, "logs", "server.log"), "utf8");

test("an org over its quota: the upload of its build's output is refused with a 507 naming the quota and flox gc; CI still works after nix-root's GC", async () => {
  const set = await flox(["org", "set", "acme", "--quota", "1K"]);
  assert.is(set.exitCode, 0, set.stderr);
  await mkdir(join(work, "pkgs", "slow"), { recursive: true });
  await writeFile(
    join(work, "pkgs", "slow", "default.nix"),
    `{ runCommand }:\n\nrunCommand "slow" { } "sleep 20; mkdir $out"\n`,
  );
  await commitAll(work, "a slow package");
  assert.is((await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"])).exitCode, 0);
  const id = await latestEvaluationId(srv, "acme");
  const slow = await waitFor("the slow build to run", () =>
    queryDb<{ outputs: string; state: string }>(
      srv.dataDir,
      "select b.outputs, b.state from eval_jobs j join builds b on b.id = j.build_id where j.evaluation_id = ? and j.attr = 'slow'",
      id,
    ).find((b) => b.state === "running"),
  );
  const out = JSON.parse((slow as { outputs: string }).outputs).out as string;
  const token = (await srv.api("POST", "/api/v1/tokens", { scope: "builder", name: "quota-test" })).body
    .secret;
  const u = await prepareUpload("slow", { "x.txt": "more than a kilobyte\n".repeat(100) });
  const narinfo = serializeNarInfo({ ...u.info, storePath: out });
  const auth = { authorization: basic(token) };
  assert.ok(
    (await fetch(`${srv.url}/cache/${u.info.url}`, { method: "PUT", headers: auth, body: u.file })).ok,
  );
  const refused = await fetch(`${srv.url}/cache/${out.slice(11, 43)}.narinfo`, {
    method: "PUT",
    headers: auth,
    body: narinfo,
  });
  const text = await refused.text();
  assert.is(refused.status, 507, text);
  assert.match(text, /org acme would pass its Storehouse quota of 1 KiB/);
  assert.match(text, /flox gc/);
  assert.is(await narinfoStatus(srv.url, out), 404, "nothing of it was accepted");
  // Without a quota the same upload is accepted.
  assert.is((await flox(["org", "set", "acme", "--quota", "none"])).exitCode, 0);
  const accepted = await fetch(`${srv.url}/cache/${out.slice(11, 43)}.narinfo`, {
    method: "PUT",
    headers: auth,
    body: narinfo,
  });
  assert.is(accepted.status, 201, await accepted.text());
});

test.run();
