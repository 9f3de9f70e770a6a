/**
 * Issue 15's outage tests: two real `flox server` processes on one PostgreSQL cluster of their own and one Ceph RGW
 * bucket, two real builders naming both servers (`--server A,B` and `B,A`). PostgreSQL crash-stopped and started
 * under load: both servers answer 503 meanwhile and carry on without a restart (the evaluation, the builds, `-o wait`
 * and a followed log finish; one leader; both listening again). The object store (radosgw) stopped for 10 s: uploads
 * and reads that need it fail with 503 in bounded time, lookups the database answers keep working, builders retry and
 * their builds succeed once it is back. A profile rollout to 20 real `flox sync` machines with server A killed -9
 * mid-way (the first machine reported, half of them held back): every machine reaches the new generation through B,
 * and its report reaches the server. After each, the API and the database say nothing was lost or duplicated.
 * (kills.test.ts covers kills during uploads, pushes, `-o wait` and leases.)
 */
import { readFileSync, writeFileSync } from "node:fs";
import { mkdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readSse } from "../../lib/sse.js";
import type { BuilderProcess } from "../../testing/builder.js";
import { buildFinished, runFlox } from "../../testing/ci-harness.js";
import { type Fleet, startFleet } from "../../testing/fleet-of-servers.js";
import { type FloxProcess, spawnFlox } from "../../testing/flox-process.js";
import { createNixTestStore, type NixTestStore } from "../../testing/nix-store.js";
import { queryPostgres } from "../../testing/postgres.js";
import { commitAll, ensureCompiledHooks, push, workRepoFromFixture } from "../../testing/repos.js";
import { TEST_ADMIN_TOKEN, type TestServer } from "../../testing/server.js";
import { basic, prepareUpload } from "../../testing/storehouse-uploads.js";
import { waitFor } from "../../testing/wait-for.js";

/** Evaluations pause this long once running: the PostgreSQL outage falls inside one. */
const EVAL_DELAY_MS = 10_000;
const MACHINES = 20;

let fleet: Fleet;
let a: TestServer;
let b: TestServer;
let work = "";
let member = "";
let builderToken = "";
let publicKey = "";
let client: NixTestStore;
const builders: BuilderProcess[] = [];
/** Pushes git accepted (exit 0), and the evaluations they must each have exactly one of. */
let pushesMade = 0;

const sql = <T>(text: string, ...params: unknown[]) => queryPostgres<T>(fleet.databaseUrl, text, params);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const explain = () =>
  [
    ...builders.map((x) => `--- builder ${x.name}\n${x.log().slice(-2500)}`),
    ...fleet.servers.map(
      (s, i) =>
        `--- server ${i} (${s.url}${fleet.alive(s) ? "" : `, dead; stderr:\n${s.stderr().slice(-2500)}\n`})\n${fleet.log(s).slice(-2500)}`,
    ),
  ].join("\n");

interface BuildRow {
  id: number;
  attr: string;
  state: string;
  attempts: number;
  outputs: string;
}

/** The builds of evaluation `id`, by attribute. */
function buildsOf(evaluation: number): Record<string, BuildRow> {
  const rows = sql<BuildRow>(
    `select j.attr, b.id, b.state, b.attempts, b.outputs from eval_jobs j join builds b on b.id = j.build_id
     where j.evaluation_id = ?`,
    evaluation,
  );
  return Object.fromEntries(rows.map((r) => [r.attr, r]));
}

async function latestEvaluation(s: TestServer, branch = "main"): Promise<{ id: number; state: string }> {
  const r = await s.api("GET", `/api/v1/orgs/acme/jobsets/${branch}/evaluations`);
  return r.body?.evaluations?.[0];
}

async function pushTo(s: TestServer, ref: string, args: string[] = []) {
  const r = await push(work, s.gitUrl("acme", TEST_ADMIN_TOKEN), [...args, `HEAD:refs/heads/${ref}`]);
  if (r.exitCode === 0) pushesMade++;
  return r;
}

async function addPackage(name: string, script: string): Promise<void> {
  await mkdir(join(work, "pkgs", name), { recursive: true });
  writeFileSync(
    join(work, "pkgs", name, "default.nix"),
    `{ runCommand }:\n\nrunCommand "${name}" { } "${script}"\n`,
  );
}

/** Waits until every build of `evaluation` finished (after the evaluation itself did); answers them. */
async function buildsFinished(evaluation: number, timeoutMs = 240_000): Promise<Record<string, BuildRow>> {
  return waitFor(
    `the builds of evaluation ${evaluation} to finish`,
    () => {
      const e = sql<{ state: string }>("select state from evaluations where id = ?", evaluation)[0];
      if (e?.state !== "succeeded") return false;
      const all = buildsOf(evaluation);
      return Object.values(all).every((x) => buildFinished(x.state)) && all;
    },
    { timeoutMs, explain },
  );
}

/** The narinfo and NAR of each path, through server `s`, into a fresh Nix store with the fleet's key required. */
async function substitute(s: TestServer, paths: string[]): Promise<void> {
  await client.substitute(`${s.url}/cache`, publicKey, paths);
  // Re-hashes each path against its NarHash: exits non-zero (run() throws) on a mismatch.
  await client.run("nix-store", ["--verify-path", ...paths]);
}

/**
 * What a fleet must never do, checked in the database and through the API: a push without exactly one evaluation,
 * an evaluation without its push, a derivation built under two rows, a build left running or leased, a path
 * claimed done but missing from the cache, a generation made twice.
 */
async function nothingLostOrDuplicated(s: TestServer): Promise<void> {
  const pushes = sql<{ id: number; evaluations: number }>(
    `select p.id, count(e.id)::int as evaluations from pushes p left join evaluations e on e.push_id = p.id
     group by p.id order by p.id`,
  );
  assert.is(pushes.length, pushesMade, `one push row per accepted git push: ${JSON.stringify(pushes)}`);
  for (const p of pushes) assert.is(p.evaluations, 1, `push ${p.id} has exactly one evaluation`);
  const evaluations = sql<{ n: number }>("select count(*)::int as n from evaluations")[0]?.n;
  assert.is(evaluations, pushesMade, "no evaluation without its push");
  const unfinished = sql<{ id: number; state: string }>(
    "select id, state from evaluations where state not in ('succeeded', 'failed', 'cancelled')",
  );
  assert.equal(unfinished, [], "no evaluation left queued or running");
  const failedEvals = sql<{ id: number; error: string }>(
    "select id, error from evaluations where state <> 'succeeded'",
  );
  assert.equal(failedEvals, [], "every evaluation succeeded");
  assert.equal(
    sql("select drv_path from builds group by drv_path having count(*) > 1"),
    [],
    "one build per .drv",
  );
  assert.equal(
    sql("select id, state from builds where state in ('queued', 'running')"),
    [],
    "no build left queued or running",
  );
  assert.equal(sql("select id, state from builds where state <> 'succeeded'"), [], "every build succeeded");
  assert.equal(sql("select build_id from build_leases"), [], "no lease left behind");
  const missing = sql<{ id: number; path: string }>(
    `select b.id, o.value as path from builds b, jsonb_each_text(b.outputs) o
     where not exists (select 1 from cache_paths c where c.store_path = o.value)`,
  );
  assert.equal(missing, [], "every output of a succeeded build is in the cache");
  assert.equal(
    sql(
      "select profile_id, store_path from profile_generations group by profile_id, store_path having count(*) > 1",
    ),
    [],
    "no generation made twice",
  );
  // The API agrees with the database: every build it lists is one of the rows, and none is unfinished.
  const listed = await s.api("GET", "/api/v1/builds?org=acme&limit=200");
  assert.is(listed.status, 200, JSON.stringify(listed.body));
  const rows = sql<{ n: number }>("select count(*)::int as n from builds")[0]?.n ?? 0;
  assert.is(listed.body.builds.length, rows, "the API lists every build row");
}

test.before(async () => {
  await ensureCompiledHooks();
  fleet = await startFleet("outages", { store: "s3" });
  const env = { FLOX_TEST_EVAL_DELAY_MS: String(EVAL_DELAY_MS), FLOX_SSE_HEARTBEAT_SECONDS: "1" };
  a = await fleet.start(env);
  b = await fleet.start(env);
  publicKey = readFileSync(join(fleet.tmp, "keys", "public-key"), "utf8").trim();
  client = await createNixTestStore();
  assert.is((await a.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  const t = await b.api("POST", "/api/v1/tokens", { scope: "builder", name: "fleet-builders" });
  assert.is(t.status, 201, JSON.stringify(t.body));
  builderToken = t.body.secret;
  member = (
    await a.api("POST", "/api/v1/tokens", { scope: "org", org: "acme", role: "member", name: "alice" })
  ).body.secret;
  builders.push(await fleet.startBuilder("b1", builderToken, [a, b]));
  builders.push(await fleet.startBuilder("b2", builderToken, [b, a]));
  work = await workRepoFromFixture("dep-chain", fleet.tmp);
  const r = await pushTo(a, "main");
  assert.is(r.exitCode, 0, r.stderr);
  const first = await waitFor("the first evaluation", async () => (await latestEvaluation(b))?.id);
  await buildsFinished(first);
  await waitFor(
    "channel acme at the first evaluation",
    async () => (await b.api("GET", "/api/v1/channels/acme")).body.channel?.current?.evaluation >= first,
    { explain },
  );
  assert.is((await b.api("POST", "/api/v1/orgs/acme/profiles", { name: "dev" }, member)).status, 201);
  const g1 = await a.api("POST", "/api/v1/profiles/acme/dev/install", { refs: ["acme#c"] }, member);
  assert.is(g1.status, 200, JSON.stringify(g1.body));
});

test.after(async () => {
  await client?.cleanup();
  await fleet?.stop();
});

/** Polls GET `path` on both servers until stopped; every answer's status (or the network error) is kept. */
function readLoop(path: string) {
  const seen: string[] = [];
  let on = true;
  const loop = (async () => {
    while (on) {
      for (const s of [a, b]) {
        seen.push(
          await s.api("GET", path).then(
            (r) => String(r.status),
            (err: Error) => `error ${err.message}`,
          ),
        );
      }
      await sleep(150);
    }
  })();
  return {
    seen,
    stop: async () => {
      on = false;
      await loop;
    },
  };
}

/** A machine's event stream on server `s`, every event kept with the time it arrived. */
async function watchMachineEvents(s: TestServer, token: string) {
  const ctl = new AbortController();
  const res = await fetch(`${s.url}/api/v1/machines/me/events`, {
    headers: { authorization: `Bearer ${token}` },
    signal: ctl.signal,
  });
  assert.is(res.status, 200);
  const seen: { data: { generation: number | null; snapshot?: boolean; action?: string }; at: number }[] = [];
  let ready = false;
  const loop = (async () => {
    try {
      for await (const item of readSse(res.body as ReadableStream<Uint8Array>)) {
        if (item.type !== "event") continue;
        if (item.event === "ready") ready = true;
        else seen.push({ data: JSON.parse(item.data), at: Date.now() });
      }
    } catch {
      // aborted by stop()
    }
  })();
  await waitFor("the event stream to be ready", () => ready, { timeoutMs: 30_000 });
  return {
    seen,
    stop: async () => {
      ctl.abort();
      await loop;
    },
  };
}

test("PostgreSQL crash-stopped and started under load: 503s meanwhile, then both servers carry on, nothing lost", async () => {
  // Builds in flight: a slow package pushed to B, built by a builder when the database goes.
  await addPackage("slow", "sleep 40; mkdir $out");
  await commitAll(work, "slow");
  const slowPush = await pushTo(b, "main");
  assert.is(slowPush.exitCode, 0, slowPush.stderr);
  const e1 = await waitFor(
    "the slow push's evaluation",
    async () => {
      const e = await latestEvaluation(a);
      return e && e.state === "succeeded" && e.id;
    },
    { timeoutMs: 120_000, explain },
  );
  const slow = await waitFor(
    "the slow build to run",
    () => buildsOf(e1).slow?.state === "running" && buildsOf(e1).slow,
    {
      timeoutMs: 120_000,
      explain,
    },
  );
  // An evaluation in flight (paused once running; the database goes just before the pause ends, so it meets the
  // outage), awaited by `git push -o wait` on A; the slow build's log followed through both servers.
  await addPackage("after-pg", "mkdir $out");
  await commitAll(work, "after the database came back");
  const waiting = pushTo(a, "main", ["-o", "wait"]);
  const e2 = await waitFor(
    "the second evaluation to run",
    async () => {
      const e = await latestEvaluation(b);
      return e && e.id !== e1 && e.state === "running" && e.id;
    },
    { timeoutMs: 60_000, explain },
  );
  const e2Started = Date.now();
  const follow = runFlox(fleet.urls(a, b), member, fleet.tmp, ["log", String(slow.id), "--follow"]);
  const reads = readLoop("/api/v1/orgs/acme/jobsets");
  await sleep(Math.max(500, EVAL_DELAY_MS - 2000 - (Date.now() - e2Started)));

  const builderLogAt = builders.map((x) => x.log().length);
  fleet.pg.stop();
  const stoppedAt = Date.now();
  await sleep(300);
  assert.ok(fleet.alive(a) && fleet.alive(b), `both servers outlive the database going: ${explain()}`);
  for (const s of [a, b]) {
    const down = await s.api("GET", "/api/v1/orgs/acme/jobsets");
    assert.is(down.status, 503, JSON.stringify(down.body));
    assert.is(down.body.error.code, "database_unavailable");
    assert.match(down.body.error.message, /database is not answering/);
  }
  await sleep(Math.max(0, 4000 - (Date.now() - stoppedAt)));
  assert.ok(fleet.alive(a) && fleet.alive(b), "both servers live through the outage");
  fleet.pg.start();

  for (const s of [a, b])
    await waitFor(
      "the server to answer again",
      async () => (await s.api("GET", "/api/v1/orgs")).status === 200,
      {
        timeoutMs: 30_000,
        explain,
      },
    );
  await reads.stop();
  assert.ok(fleet.alive(a) && fleet.alive(b), "no server restarted");
  const inFlight = sql<{ state: string }>("select state from builds where id = ?", slow.id)[0];
  assert.is(inFlight?.state, "running", "the slow build was still under way when the database came back");
  assert.ok(
    builders.some((x, i) =>
      /claiming failed: .*database is not answering/.test(x.log().slice(builderLogAt[i])),
    ),
    `builders kept claiming through the outage:\n${explain()}`,
  );
  const odd = reads.seen.filter((x) => x !== "200" && x !== "503");
  assert.equal(odd, [], "the reads got answers: 200, or 503 while the database was away");
  assert.ok(reads.seen.includes("503") && reads.seen.at(-1) === "200", reads.seen.join(" "));

  // The work in flight finishes: the `-o wait` push, its evaluation, the slow build and the log followed.
  const waited = await waiting;
  assert.is(waited.exitCode, 0, `${waited.stderr}\n${explain()}`);
  assert.match(waited.remote.join("\n"), /succeeded|passed/i);
  const all = await buildsFinished(e2);
  assert.is(all.slow?.id, slow.id, "the second evaluation shares the slow build");
  assert.is(all.slow?.state, "succeeded", explain());
  assert.is(all.slow?.attempts, 1, "the lease outlived the outage: one attempt");
  const followed = await follow;
  assert.is(followed.exitCode, 0, followed.stderr);
  assert.match(followed.stdout, /result: succeeded/);
  // The evaluation met the outage, was requeued rather than failed, and ran again: one attempt more.
  assert.ok(
    [a, b].some((s) => fleet.log(s).includes("the database went away during the evaluation")),
    explain(),
  );
  assert.is(sql<{ attempts: number }>("select attempts from evaluations where id = ?", e2)[0]?.attempts, 2);

  // Exactly one leader again, and both servers listen to each other's signals again.
  await waitFor(
    "exactly one leader",
    () =>
      sql<{ n: number }>(
        "select count(*)::int as n from pg_locks where locktype = 'advisory' and classid = 4242100 and objid = 0 and granted",
      )[0]?.n === 1,
    { timeoutMs: 30_000, explain },
  );
  await waitFor(
    "both servers listening again",
    () => [a, b].every((s) => fleet.log(s).includes("listening to the other servers' signals again")),
    { timeoutMs: 30_000, explain },
  );
  const listeners = sql<{ n: number }>(
    "select count(*)::int as n from pg_stat_activity where query ilike 'listen flox_signals%'",
  )[0]?.n;
  assert.is(listeners, 2, "one LISTEN connection per server");
  // And the signals cross again: profile changes made on B reach a machine's live stream on A at once, not at its
  // once-a-second look at the feed.
  const probe = (await a.api("POST", "/api/v1/tokens", { scope: "machine", org: "acme", name: "probe" })).body
    .secret;
  assert.is((await a.api("POST", "/api/v1/machines", { name: "probe" }, probe)).status, 201);
  const sub = await a.api("POST", "/api/v1/machines/me/subscriptions", { profile: "acme/dev" }, probe);
  assert.is(sub.status, 201);
  const added = await b.api("POST", "/api/v1/profiles/acme/dev/install", { refs: ["acme#a"] }, member);
  assert.is(added.status, 200, JSON.stringify(added.body));
  const events = await watchMachineEvents(a, probe);
  const delays: number[] = [];
  try {
    for (const to of [1, 2, 1, 2, 1]) {
      const t0 = Date.now();
      const r = await b.api("POST", "/api/v1/profiles/acme/dev/rollback", { to }, member);
      assert.is(r.status, 200, JSON.stringify(r.body));
      const answered = Date.now();
      const got = await waitFor(`generation ${to} on A's stream`, () =>
        events.seen.find((e) => e.at >= t0 && e.data.generation === to && !e.data.snapshot),
      );
      delays.push(Math.max(0, got.at - answered));
    }
  } finally {
    await events.stop();
  }
  assert.ok(
    delays.every((d) => d < 600),
    `each change on B reached A's stream within 600 ms (the feed look is once a second): ${delays.join(", ")} ms`,
  );
  const unsub = await a.api("DELETE", "/api/v1/machines/me/subscriptions?profile=acme/dev", undefined, probe);
  assert.is(unsub.status, 200);
  await nothingLostOrDuplicated(b);
  const outputs = Object.values(all).map((x) => JSON.parse(x.outputs).out as string);
  await substitute(a, outputs);
});

/** A request's answer and how long it took, never thrown. */
async function timed(url: string, init: RequestInit = {}) {
  const t0 = Date.now();
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(120_000) });
    return { status: res.status, text: await res.text(), ms: Date.now() - t0 };
  } catch (err) {
    return { status: 0, text: (err as Error).message, ms: Date.now() - t0 };
  }
}

test("the object store stopped for 10 s: uploads and store reads answer 503 in bounded time, builders retry, all resumes", async () => {
  // Before: a NAR and a finished build's log, both in the bucket.
  const before = await prepareUpload("before-outage-1.0", { f: "stored before the outage\n" });
  const put = (s: TestServer, path: string, body: Buffer | string) =>
    timed(`${s.url}/cache/${path}`, { method: "PUT", headers: { authorization: basic(builderToken) }, body });
  assert.is((await put(a, before.info.url, before.file)).status, 201);
  assert.is((await put(b, `${before.hash}.narinfo`, before.narinfoText)).status, 201);
  const done = sql<{ id: number }>("select id from builds where state = 'succeeded' order by id limit 1")[0];
  assert.ok(done, "a finished build to read the log of");
  const logBefore = await timed(`${a.url}/api/v1/builds/${done.id}/log`, {
    headers: { authorization: `Bearer ${member}` },
  });
  assert.is(logBefore.status, 200);
  assert.match(logBefore.text, /result: succeeded/);

  // Builds in flight: two run (one per builder) and finish a few seconds into the outage, so their uploads meet the
  // stopped store; the third waits in the queue for a builder that comes during the outage.
  const names = ["during-1", "during-2", "during-3"];
  for (const n of names) await addPackage(n, `sleep 6; echo ${n} > $out`);
  await commitAll(work, "built across the store outage");
  const r = await pushTo(b, "main");
  assert.is(r.exitCode, 0, r.stderr);
  const e3 = await waitFor(
    "the evaluation of the outage push",
    async () => {
      const e = await latestEvaluation(a);
      return e && e.state === "succeeded" && e.id;
    },
    { timeoutMs: 120_000, explain },
  );
  const running = await waitFor(
    "two builds under way on the builders",
    async () => {
      const now = Object.values(buildsOf(e3)).filter((x) => x.state === "running");
      if (now.length < 2) return false;
      for (const x of now) {
        const log = await timed(`${a.url}/api/v1/builds/${x.id}/log`, {
          headers: { authorization: `Bearer ${member}` },
        });
        if (!log.text.includes("building '")) return false;
      }
      return now;
    },
    { timeoutMs: 120_000, explain },
  );
  const waiting = Object.values(buildsOf(e3)).find((x) => x.state === "queued");
  assert.ok(waiting, "the third build waits for a builder");
  // A client path to upload during the outage, with the real `nix copy`.
  const netrc = join(client.dir, "netrc");
  writeFileSync(netrc, `machine 127.0.0.1 login x password ${builderToken}\n`);
  const mine = await client.buildOne(`run "uploaded-in-the-outage" "echo mine > $out"`);
  const during = await prepareUpload("during-outage-1.0", { f: "uploaded during the outage\n" });
  const logAtStop = builders.map((x) => x.log().length);

  await fleet.ceph?.stopGateway();
  const stoppedAt = Date.now();
  try {
    for (const s of [a, b]) {
      const refused = await put(s, during.info.url, during.file);
      assert.is(refused.status, 503, refused.text);
      assert.match(refused.text, /the object store s3:\/\/\S+ .*did not answer .*try again in a moment/);
      const nar = await timed(`${s.url}/cache/${before.info.url}`);
      assert.is(nar.status, 503, nar.text);
      assert.match(nar.text, /did not answer/);
      assert.ok(nar.ms < 60_000, `a NAR read failed in bounded time (${nar.ms} ms)`);
      const log = await timed(`${s.url}/api/v1/builds/${done.id}/log`, {
        headers: { authorization: `Bearer ${member}` },
      });
      assert.is(log.status, 503, log.text);
      assert.ok(log.ms < 60_000, `a log read failed in bounded time (${log.ms} ms)`);
      // What the database answers alone keeps working.
      assert.is((await timed(`${s.url}/cache/${"0".repeat(32)}.narinfo`)).status, 404);
      const listed = await s.api("GET", "/api/v1/orgs/acme/jobsets");
      assert.is(listed.status, 200, JSON.stringify(listed.body));
    }
    const copy = await client
      .run("nix", ["copy", "--option", "netrc-file", netrc, "--to", `${a.url}/cache?compression=br`, mine])
      .then(
        () => "",
        (err: Error) => err.message,
      );
    assert.match(copy, /503/, "nix copy fails while the store is away");
    // A builder that comes now is refused its claim (503) and retries; the waiting build keeps its attempts.
    const late = await fleet.startBuilder("b3", builderToken, [a, b]);
    builders.push(late);
    await waitFor(
      "the late builder to be refused a claim",
      () => /claiming failed: .*object store/.test(late.log()),
      {
        timeoutMs: 8000,
        explain,
      },
    );
    await waitFor(
      "the waiting build given back: queued, no attempt spent",
      () => {
        const row = sql<{ state: string; attempts: number }>(
          "select state, attempts from builds where id = ?",
          waiting.id,
        )[0];
        return row?.state === "queued" && row.attempts === 0;
      },
      { timeoutMs: 5000, intervalMs: 50, explain },
    );
    await sleep(Math.max(0, 10_000 - (Date.now() - stoppedAt)));
  } finally {
    await fleet.ceph?.startGateway();
  }

  // Everything resumes: the builders' retries succeed, the NAR and log read, new uploads land, through both.
  const all = await buildsFinished(e3);
  for (const x of names) assert.is(all[x]?.state, "succeeded", explain());
  assert.is(
    all[Object.keys(all).find((k) => all[k]?.id === waiting.id) ?? ""]?.attempts,
    1,
    "the waiting build: one attempt",
  );
  for (const x of running)
    assert.ok((all[x.attr]?.attempts ?? 0) <= 2, `${x.attr}: at most one attempt lost to the outage`);
  // The builders under way met the outage (their calls answered 503 naming the store) and carried on.
  const met = builders
    .slice(0, 2)
    .filter((x, i) => /object store s3:\/\/\S+ .*did not answer/.test(x.log().slice(logAtStop[i])));
  assert.ok(met.length > 0, `a builder met the outage:\n${explain()}`);
  for (const s of [a, b]) {
    const nar = await timed(`${s.url}/cache/${before.info.url}`);
    assert.is(nar.status, 200);
    const log = await timed(`${s.url}/api/v1/builds/${done.id}/log`, {
      headers: { authorization: `Bearer ${member}` },
    });
    assert.is(log.text, logBefore.text, "the log reads whole again");
  }
  const bytes = Buffer.from(await (await fetch(`${b.url}/cache/${before.info.url}`)).arrayBuffer());
  assert.ok(bytes.equals(before.file), "the NAR read back is the one stored");
  assert.is((await put(b, during.info.url, during.file)).status, 201);
  assert.is((await put(a, `${during.hash}.narinfo`, during.narinfoText)).status, 201);
  await client.run("nix", [
    "copy",
    "--option",
    "netrc-file",
    netrc,
    "--to",
    `${b.url}/cache?compression=br`,
    mine,
  ]);
  assert.is((await timed(`${a.url}/cache/${mine.slice(11, 43)}.narinfo`)).status, 200);
  await nothingLostOrDuplicated(a);
  await substitute(
    b,
    ["during-1", "during-2"].map((x) => JSON.parse(all[x]?.outputs ?? "{}").out as string),
  );
});

interface SyncProcess extends FloxProcess {
  name: string;
  dir: string;
}

/** A real `flox sync --server A,B` of one machine into its own profiles dir. */
function startSync(name: string, token: string, dir: string): SyncProcess {
  const proc = spawnFlox(["sync", "--profiles-dir", dir, "--server", fleet.urls(a, b)], {
    FLOX_TOKEN: token,
    XDG_CONFIG_HOME: join(dir, ".config"),
  });
  return { name, dir, ...proc };
}

/** What DIR/acme/dev points at: the generation (through dev-N-link) and its store path. */
async function linked(dir: string) {
  try {
    const genLink = await readlink(join(dir, "acme", "dev"));
    const m = /^dev-([0-9]+)-link$/.exec(genLink);
    return { generation: Number(m?.[1]), storePath: await readlink(join(dir, "acme", genLink)) };
  } catch {
    return undefined;
  }
}

test("a rollout to 20 machines with server A killed -9 mid-way: every machine reaches the generation through B", async () => {
  const syncs: SyncProcess[] = [];
  try {
    for (let i = 1; i <= MACHINES; i++) {
      const name = `m${i}`;
      const t = await a.api("POST", "/api/v1/tokens", { scope: "machine", org: "acme", name });
      assert.is(t.status, 201, JSON.stringify(t.body));
      const as = (s: TestServer, path: string, body: unknown) => s.api("POST", path, body, t.body.secret);
      const server = i % 2 ? a : b;
      assert.is((await as(server, "/api/v1/machines", { name })).status, 201);
      assert.is((await as(server, "/api/v1/machines/me/subscriptions", { profile: "acme/dev" })).status, 201);
      syncs.push(startSync(name, t.body.secret, join(fleet.tmp, "machines", name)));
    }
    const status = async (s: TestServer) =>
      (await s.api("GET", "/api/v1/profiles/acme/dev/status", undefined, member)).body.status;
    const live = (await status(b)).live as number;
    await waitFor(
      `${MACHINES} machines on generation ${live}`,
      async () => {
        const st = await status(b);
        return st.summary.onLive === MACHINES && st.summary.machines === MACHINES;
      },
      {
        timeoutMs: 120_000,
        explain: () => syncs.map((x) => `--- ${x.name}\n${x.log().slice(-400)}`).join("\n"),
      },
    );
    // All connected to A (the first of their list).
    for (const x of syncs) assert.match(x.log(), `connected to ${a.url}`);
    const generationsBefore = sql<{ n: number }>(
      "select count(*)::int as n from profile_generations g join profiles p on p.id = g.profile_id where p.name = 'dev'",
    )[0]?.n;

    const newest =
      sql<{ n: number }>(
        "select max(number)::int as n from profile_generations g join profiles p on p.id = g.profile_id where p.name = 'dev'",
      )[0]?.n ?? 0;
    // Half the machines are slow (stopped): they cannot have switched, or reported, before A dies.
    const slow = syncs.filter((_, i) => i % 2 === 0);
    for (const x of slow) x.child.kill("SIGSTOP");
    const installed = await a.api(
      "POST",
      "/api/v1/profiles/acme/dev/install",
      { refs: ["acme#b"], reason: "rollout" },
      member,
    );
    assert.is(installed.status, 200, JSON.stringify(installed.body));
    const next = installed.body.generation.number as number;
    const storePath = installed.body.generation.storePath as string;
    assert.is(next, newest + 1, "the new generation is numbered after the newest");
    const reported = () =>
      sql<{ n: number }>(
        `select count(*)::int as n from machine_profiles r join profiles p on p.id = r.profile_id
         where p.name = 'dev' and r.generation = ?`,
        next,
      )[0]?.n ?? 0;
    // A dies mid-rollout: once the first machine has reported the new generation through it.
    await waitFor("a first report of the new generation", () => reported() > 0, {
      timeoutMs: 30_000,
      intervalMs: 10,
    });
    await fleet.kill(a);
    const reportedAtKill = reported();
    assert.ok(
      reportedAtKill > 0 && reportedAtKill <= MACHINES - slow.length,
      `${reportedAtKill} of ${MACHINES} machines had reported when A died`,
    );
    for (const x of slow) x.child.kill("SIGCONT");

    await waitFor(
      `every machine linked to generation ${next}`,
      async () => {
        for (const x of syncs) {
          const l = await linked(x.dir);
          if (l?.generation !== next || l.storePath !== storePath) return false;
        }
        return true;
      },
      {
        timeoutMs: 120_000,
        explain: () => syncs.map((x) => `--- ${x.name}\n${x.log().slice(-600)}`).join("\n"),
      },
    );
    const st = await waitFor(
      `${MACHINES} reports of generation ${next} through B`,
      async () => {
        const s = await status(b);
        return s.summary.onLive === MACHINES && s;
      },
      { timeoutMs: 60_000, explain: () => JSON.stringify(sql("select * from machine_profiles")) },
    );
    assert.is(st.live, next);
    assert.equal(st.counts, [{ generation: next, machines: MACHINES }]);
    // The slow half reached the new generation through B, A being dead.
    for (const x of slow) assert.match(x.log(), `connected to ${b.url}`);
    const generationsAfter = sql<{ n: number }>(
      "select count(*)::int as n from profile_generations g join profiles p on p.id = g.profile_id where p.name = 'dev'",
    )[0]?.n;
    assert.is(generationsAfter, (generationsBefore ?? 0) + 1, "exactly one new generation row");
    assert.is(
      sql<{ n: number }>(
        "select count(*)::int as n from change_events where kind = 'profile' and generation = ?",
        next,
      )[0]?.n,
      1,
      "one change event for it",
    );
    await nothingLostOrDuplicated(b);
    await substitute(b, [storePath]);
  } finally {
    for (const x of syncs) await x.stop();
  }
});

test.run();
