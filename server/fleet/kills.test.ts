/**
 * Issue 15's kill -9 faults: two real `flox server` processes (A and B) on one PostgreSQL and one Ceph RGW bucket,
 * and two builders naming both (`--server A,B`, A first). Server A is killed (SIGKILL) during a builder's NAR
 * upload to it, while `git push -o wait` streams from it, during a `git push` to it, and while a builder it leased a
 * build to is building; B carries on alone. After each case the API (through B) and the database (read behind the
 * servers' backs) show nothing lost or done twice: pushes, evaluations, builds, cache paths, and the NARs in the
 * bucket. Each case starts a fresh A (and fresh builders naming it first); B lives through the whole file.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ListMultipartUploadsCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { execa, type ResultPromise } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseNarInfo } from "../../lib/narinfo.js";
import type { BuilderProcess } from "../../testing/builder.js";
import { type Fleet, startFleet } from "../../testing/fleet-of-servers.js";
import { createNixTestStore } from "../../testing/nix-store.js";
import { queryPostgres } from "../../testing/postgres.js";
import { commitAll, ensureCompiledHooks, push, runGit, workRepoFromFixture } from "../../testing/repos.js";
import { TEST_ADMIN_TOKEN, type TestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";

/** B's `--nar-sweep-grace`: the case that runs a sweep asks for it well after this. */
const SWEEP_GRACE_SECONDS = 5;

let fleet: Fleet;
/** The server that lives through every case. */
let b: TestServer;
/** This case's server A: the builders' first server, killed by the case. */
let a: TestServer;
const builders: BuilderProcess[] = [];
let builderToken = "";
let work = "";
let publicKey = "";
let bucket = "";
let prefix = "";

const sql = <T>(text: string, ...params: unknown[]) => queryPostgres<T>(fleet.databaseUrl, text, params);

interface BuildRow {
  attr: string;
  id: number;
  state: string;
  attempts: number;
  outputs: string;
}

const jobsOf = (evaluationId: number) =>
  sql<BuildRow>(
    `select j.attr, b.id, b.state, b.attempts, b.outputs from eval_jobs j join builds b on b.id = j.build_id
     where j.evaluation_id = ? order by j.attr`,
    evaluationId,
  );

const finished = (state: string) => state !== "queued" && state !== "running";

const explain = () =>
  [
    `builds: ${JSON.stringify(sql("select id, state, attempts, drv_path from builds order by id"))}`,
    `evaluations: ${JSON.stringify(sql("select id, push_id, commit_sha, state, error from evaluations order by id"))}`,
    ...builders.map((x) => `--- builder ${x.name}\n${x.log().slice(-2500)}`),
    ...fleet.servers.map((s) => `--- server ${s.url}\n${fleet.log(s).slice(-2500)}`),
  ].join("\n");

/** What git says when the server it pushes to is gone mid-request. */
const CONNECTION_LOST = /RPC failed|unexpected disconnect|remote end hung up/;

/** A fresh server A and two fresh builders whose `--server` list is `A,B`: their uploads and renewals go to A. */
async function freshA(): Promise<void> {
  for (const x of builders.splice(0)) await x.stop();
  a = await fleet.start();
  for (const name of ["b1", "b2"]) {
    const x = await fleet.startBuilder(`${name}-${a.port}`, builderToken, [a, b]);
    builders.push(x);
  }
}

/** Adds (or replaces) `pkgs/NAME/default.nix` and commits it; answers the new HEAD. */
async function addPackage(name: string, nix: string): Promise<string> {
  await mkdir(join(work, "pkgs", name), { recursive: true });
  await writeFile(join(work, "pkgs", name, "default.nix"), nix);
  await commitAll(work, `package ${name}`);
  return (await runGit(["rev-parse", "HEAD"], work)).stdout.trim();
}

/** A package that sleeps, unique to its name (a new derivation each time). */
const sleeper = (seconds: number, marker: string) =>
  `{ runCommand }:\n\nrunCommand "${marker}" { } "sleep ${seconds}; mkdir $out; echo ${marker} > $out/marker"\n`;

/** The one evaluation of `sha`, once it and every build it queued finished. */
async function evaluationDone(sha: string, timeoutMs = 240_000): Promise<{ id: number; state: string }> {
  return waitFor(
    `the evaluation of ${sha.slice(0, 7)} and its builds to finish`,
    () => {
      const [e] = sql<{ id: number; state: string }>(
        "select id, state from evaluations where commit_sha = ?",
        sha,
      );
      return e && finished(e.state) && jobsOf(e.id).every((j) => finished(j.state)) && e;
    },
    { timeoutMs, explain },
  );
}

/** Objects of the fleet's bucket under `folder` (e.g. `nar/`), keys relative to the store's prefix. */
async function objectsIn(folder: string): Promise<string[]> {
  const client = fleet.ceph?.client;
  if (!client) throw new Error("the fleet has no Ceph");
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: `${prefix}${folder}`,
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key.slice(prefix.length));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** Multipart uploads begun and neither completed nor aborted, under `folder`. */
async function unfinishedUploads(folder: string): Promise<string[]> {
  const client = fleet.ceph?.client;
  if (!client) throw new Error("the fleet has no Ceph");
  const r = await client.send(
    new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${prefix}${folder}` }),
  );
  return (r.Uploads ?? []).map((u) => (u.Key ?? "").slice(prefix.length));
}

/**
 * Nothing lost or done twice, through the API of `via` and in the database: one record per pushed commit, one
 * evaluation per branch push, every evaluation and build finished and succeeded, every built output in the cache
 * index once with its narinfo served by `via` (its NAR hash the database's) and its NAR in the bucket, and no NAR
 * in the bucket that no path names.
 */
async function assertNothingLostOrDuplicated(via: TestServer): Promise<void> {
  const twice = sql(
    "select ref, new_sha, count(*) as n from pushes group by ref, new_sha having count(*) > 1",
  );
  assert.equal(twice, [], "no commit was recorded as pushed twice");
  const pushes = sql<{ id: number }>("select id from pushes order by id");
  const listed = await via.api("GET", "/api/v1/orgs/acme/pushes");
  assert.is(listed.status, 200, JSON.stringify(listed.body));
  assert.equal(
    listed.body.pushes.map((p: { id: number }) => p.id).sort((x: number, y: number) => x - y),
    pushes.map((p) => p.id),
    "the API lists every push the database holds, once",
  );
  const unevaluated = sql(
    `select p.id from pushes p left join evaluations e on e.push_id = p.id
     where e.id is null and p.ref like 'refs/heads/%' and p.new_sha <> ?`,
    "0".repeat(40),
  );
  assert.equal(unevaluated, [], "every branch push has its evaluation");
  for (const e of sql<{ id: number; state: string }>("select id, state from evaluations order by id")) {
    assert.is(e.state, "succeeded", `evaluation ${e.id}\n${explain()}`);
    const answer = await via.api("GET", `/api/v1/evaluations/${e.id}`);
    assert.is(answer.body?.evaluation?.state, "succeeded", JSON.stringify(answer.body));
  }
  const builds = sql<{ id: number; state: string; outputs: string }>("select id, state, outputs from builds");
  const rows = sql<{ hash: string; nar_file: string; nar_hash: string; store_path: string }>(
    "select hash, nar_file, nar_hash, store_path from cache_paths",
  );
  const byPath = new Map(rows.map((r) => [r.store_path, r]));
  for (const build of builds) {
    assert.is(build.state, "succeeded", `build ${build.id}\n${explain()}`);
    for (const out of Object.values(JSON.parse(build.outputs) as Record<string, string>)) {
      const row = byPath.get(out);
      assert.ok(row, `${out} (build ${build.id}) is in the cache index`);
      const res = await fetch(`${via.url}/cache/${row.hash}.narinfo`, {
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      });
      assert.is(res.status, 200, `${out}'s narinfo through ${via.url}`);
      const info = parseNarInfo(await res.text());
      assert.is(info.narHash, row.nar_hash);
      assert.is(`nar/${info.url.replace(/^nar\//, "")}`, row.nar_file);
    }
  }
  const nars = (await objectsIn("nar/")).sort();
  const named = [...new Set(rows.map((r) => r.nar_file))].sort();
  assert.equal(nars, named, "the bucket holds exactly the NARs the index names, each once");
  // Every narinfo in the bucket is a path of the index: nothing half-accepted is visible as a path.
  const narinfos = (await objectsIn("narinfo/")).map((k) => k.slice("narinfo/".length, -".narinfo".length));
  assert.equal(narinfos.sort(), rows.map((r) => r.hash).sort());
}

/** A stock `nix-store -r` of `paths` from `via` into a fresh store, signatures required; `--verify-path` passes. */
async function substituteAndVerify(via: TestServer, paths: string[]): Promise<void> {
  const client = await createNixTestStore();
  try {
    const netrc = join(client.dir, "netrc");
    writeFileSync(netrc, `machine 127.0.0.1 login x password ${TEST_ADMIN_TOKEN}\n`);
    await client.substitute(`${via.url}/cache`, publicKey, paths, { "netrc-file": netrc });
    assert.is(await client.run("nix-store", ["--verify-path", ...paths]), "");
  } finally {
    await client.cleanup();
  }
}

/** `git push` as a process whose stderr is watched while it runs. */
function pushing(url: string, args: string[]): { run: ResultPromise; stderr: () => string } {
  let stderr = "";
  const run = execa("git", ["push", "--porcelain", url, ...args], {
    cwd: work,
    reject: false,
    env: {
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@example.com",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@example.com",
    },
  });
  run.stderr?.setEncoding("utf8").on("data", (c: string) => {
    stderr += c;
  });
  return { run, stderr: () => stderr };
}

/** Processes whose working directory is `dir`: git serving the repo, and its index-pack. */
function gitIn(dir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`) === dir) found.push(Number(entry));
    } catch {
      // gone while we looked
    }
  }
  return found;
}

/** The children of `pid` whose command line mentions `what`. */
function childrenOf(pid: number, what: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "latin1");
      if (ppid === pid && cmdline.includes(what)) found.push(Number(entry));
    } catch {
      // gone while we looked
    }
  }
  return found;
}

test.before(async () => {
  await ensureCompiledHooks();
  fleet = await startFleet("kills", { store: "s3" });
  const m = /^s3:\/\/([^/?]+)\/?([^?]*)/.exec(fleet.narStore);
  bucket = m?.[1] ?? "";
  prefix = m?.[2] ? `${m[2].replace(/\/$/, "")}/` : "";
  publicKey = readFileSync(join(fleet.tmp, "keys", "public-key"), "utf8").trim();
  // A short sweep grace, so that the sweep asked for in the upload case may take what A left behind.
  b = await fleet.start({}, undefined, ["--nar-sweep-grace", String(SWEEP_GRACE_SECONDS)]);
  assert.is((await b.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  const t = await b.api("POST", "/api/v1/tokens", { scope: "builder", name: "fleet" });
  assert.is(t.status, 201, JSON.stringify(t.body));
  builderToken = t.body.secret;
  work = await workRepoFromFixture("dep-chain", fleet.tmp);
  // A first push, built: the fleet is warm (the base set's busybox is in the Storehouse) before anything dies.
  await freshA();
  const r = await push(work, b.gitUrl("acme", TEST_ADMIN_TOKEN), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  await evaluationDone((await runGit(["rev-parse", "HEAD"], work)).stdout.trim());
  await assertNothingLostOrDuplicated(b);
});

test.after(async () => {
  for (const x of builders) await x.stop().catch(() => undefined);
  await fleet?.stop();
});

test("A killed during a builder's NAR upload to it: the builder retries on B, the path is in the cache once, verified", async () => {
  // 96 MiB of random bytes: its upload (12 parts of 8 MiB into the bucket) is long enough to be caught under way.
  const sha = await addPackage(
    "big",
    '{ runCommand }:\n\nrunCommand "big" { } "mkdir $out; head -c 100663296 /dev/urandom > $out/noise"\n',
  );
  const r = await push(work, b.gitUrl("acme", TEST_ADMIN_TOKEN), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  // The upload is under way at A when A's multipart upload of it appears under tmp/ (a body over one 8 MiB part):
  // the builders name A first and A is up, so nothing else uploads there.
  const upload = await waitFor(
    "the big NAR's upload to A to be under way",
    async () => (await unfinishedUploads("tmp/"))[0],
    { timeoutMs: 240_000, intervalMs: 25, explain },
  );
  await fleet.kill(a);
  const e = await evaluationDone(sha, 300_000);
  assert.is(e.state, "succeeded", explain());
  const big = jobsOf(e.id).find((j) => j.attr === "big");
  assert.ok(big, "the evaluation has the big package");
  assert.is(big.state, "succeeded", explain());
  // The builder uploaded to B in the same attempt: the build was not handed out, nor built, again.
  const log = await (
    await fetch(`${b.url}/api/v1/builds/${big.id}/log`, {
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
    })
  ).text();
  const line = log.split("\n").find((l) => l.includes(`uploading to ${a.url} failed (`));
  assert.ok(line?.endsWith(`; trying again on ${b.url}`), `${line}\n--- build log\n${log.slice(-3000)}`);
  assert.is(big.attempts, 1, `attempts ${big.attempts}\n${explain()}\n--- build log\n${log.slice(-3000)}`);
  const out = (JSON.parse(big.outputs) as Record<string, string>).out ?? "";
  assert.is(sql("select hash from cache_paths where store_path = ?", out).length, 1);
  // What A was writing when it died is not a path (no NAR or narinfo the index does not name, checked below): it
  // is an unfinished multipart upload under tmp/, which nobody aborted.
  assert.ok((await unfinishedUploads("tmp/")).includes(upload), upload);
  await assertNothingLostOrDuplicated(b);
  await substituteAndVerify(b, [out]);
  // The orphan sweep (past its grace) discards it.
  await waitFor("A's upload to be older than the sweep's grace", async () => {
    const r = await fleet.ceph?.client.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${prefix}${upload}` }),
    );
    const started = r?.Uploads?.[0]?.Initiated?.getTime() ?? 0;
    return Date.now() - started > (SWEEP_GRACE_SECONDS + 1) * 1000;
  });
  const swept = await b.api("POST", "/api/v1/storehouse/sweep");
  assert.is(swept.status, 200, JSON.stringify(swept.body));
  assert.equal(await unfinishedUploads("tmp/"), [], "no unfinished upload is left in the bucket");
  assert.ok(JSON.stringify(swept.body).includes(upload.slice("tmp/".length)), JSON.stringify(swept.body));
  await assertNothingLostOrDuplicated(b);
});

test("A killed while `git push -o wait` streams from it: the client is told, the push is recorded once, B builds it", async () => {
  await freshA();
  const sha = await addPackage("streamed", sleeper(6, `streamed-${randomBytes(4).toString("hex")}`));
  const p = pushing(a.gitUrl("acme", TEST_ADMIN_TOKEN), ["-o", "wait", "HEAD:refs/heads/main"]);
  await waitFor(
    "the push to stream build progress",
    () => /streamed building \(build \d+\)/.test(p.stderr()),
    {
      timeoutMs: 240_000,
      explain: () => `${p.stderr()}\n${explain()}`,
    },
  );
  await fleet.kill(a);
  const result = await p.run;
  assert.is.not(result.exitCode, 0, `the client saw no false success:\n${p.stderr()}`);
  assert.match(p.stderr(), CONNECTION_LOST);
  assert.not.match(p.stderr(), /streamed succeeded/);
  const e = await evaluationDone(sha);
  assert.is(e.state, "succeeded", explain());
  // Built through B: the build A had handed out was reported to B.
  const streamed = jobsOf(e.id).find((j) => j.attr === "streamed");
  assert.is(streamed?.state, "succeeded", explain());
  assert.match(fleet.log(b), `"build":${streamed?.id},"state":"succeeded"`);
  assert.is(sql("select id from pushes where new_sha = ?", sha).length, 1, "the push is recorded once");
  const listed = await b.api("GET", "/api/v1/orgs/acme/pushes");
  assert.is(listed.body.pushes.filter((x: { newSha: string }) => x.newSha === sha).length, 1);
  await assertNothingLostOrDuplicated(b);
});

test("A killed during a `git push` to it: a clear answer, one push record or none, the repo sound, B takes the next push", async () => {
  await freshA();
  // A commit with 8 MB of new incompressible data, so that A's receive-pack is caught reading it.
  writeFileSync(join(work, "README.noise"), randomBytes(8 * 1024 * 1024));
  const sha = await addPackage("cut", sleeper(1, `cut-${randomBytes(4).toString("hex")}`));
  const p = pushing(a.gitUrl("acme", TEST_ADMIN_TOKEN), ["HEAD:refs/heads/main"]);
  const pid = a.process.pid ?? 0;
  await waitFor("A's git receive-pack", () => childrenOf(pid, "receive-pack")[0], {
    timeoutMs: 60_000,
    intervalMs: 10,
    explain: p.stderr,
  });
  await fleet.kill(a);
  const result = await p.run;
  const records = sql<{ id: number }>("select id from pushes where new_sha = ?", sha);
  assert.ok(records.length <= 1, `one push record or none: ${JSON.stringify(records)}`);
  if (result.exitCode === 0)
    assert.is(records.length, 1, `a push the client was told went through is recorded`);
  else assert.match(p.stderr(), CONNECTION_LOST);
  const repo = join(fleet.tmp, "repos", "acme", "nixexprs.git");
  // Git that A started may outlive it a moment (reading a pipe nobody writes to any more).
  await waitFor("git in the shared repo to end", () => gitIn(repo).length === 0, { timeoutMs: 30_000 });
  const fsck = await runGit(["--git-dir", repo, "fsck", "--no-progress"], work);
  assert.is(fsck.exitCode, 0, fsck.stderr);
  const head = (await runGit(["--git-dir", repo, "rev-parse", "refs/heads/main"], work)).stdout.trim();
  // The ref moved exactly when the push was recorded.
  assert.is(head === sha, records.length === 1, `ref at ${head}, records ${JSON.stringify(records)}`);
  if (records.length === 1) await evaluationDone(sha);

  const next = await addPackage("after-cut", sleeper(1, `after-cut-${randomBytes(4).toString("hex")}`));
  const r = await push(work, b.gitUrl("acme", TEST_ADMIN_TOKEN), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  const e = await evaluationDone(next);
  assert.is(e.state, "succeeded", explain());
  assert.is(sql("select id from pushes where new_sha = ?", next).length, 1);
  assert.ok(sql("select id from pushes where new_sha = ?", sha).length <= 1);
  await assertNothingLostOrDuplicated(b);
});

test("A killed after recording a push, before answering it: one record, the ref moved, B evaluates and builds it", async () => {
  await freshA();
  const sha = await addPackage("answered", sleeper(1, `answered-${randomBytes(4).toString("hex")}`));
  const p = pushing(a.gitUrl("acme", TEST_ADMIN_TOKEN), ["HEAD:refs/heads/main"]);
  // A's hook recorded the push and now waits for its evaluation's summary to print it.
  await waitFor(
    "A to record the push",
    () => sql("select id from pushes where new_sha = ?", sha).length > 0 && !p.run.exitCode,
    { timeoutMs: 60_000, intervalMs: 10, explain: p.stderr },
  );
  await fleet.kill(a);
  const result = await p.run;
  // Told either way: cut off (most often), or answered in the moment before the kill.
  if (result.exitCode !== 0) assert.match(p.stderr(), CONNECTION_LOST);
  const repo = join(fleet.tmp, "repos", "acme", "nixexprs.git");
  await waitFor("git in the shared repo to end", () => gitIn(repo).length === 0, { timeoutMs: 30_000 });
  assert.is((await runGit(["--git-dir", repo, "fsck", "--no-progress"], work)).exitCode, 0);
  assert.is((await runGit(["--git-dir", repo, "rev-parse", "refs/heads/main"], work)).stdout.trim(), sha);
  const e = await evaluationDone(sha);
  assert.is(e.state, "succeeded", explain());
  assert.is(sql("select id from pushes where new_sha = ?", sha).length, 1, "the push is recorded once");
  await assertNothingLostOrDuplicated(b);
});

test("A killed between the ref update and the push record: B's leader records it once, evaluates and builds it", async () => {
  await freshA();
  const sha = await addPackage("unrecorded", sleeper(1, `unrecorded-${randomBytes(4).toString("hex")}`));
  const repo = join(fleet.tmp, "repos", "acme", "nixexprs.git");
  const p = pushing(a.gitUrl("acme", TEST_ADMIN_TOKEN), ["HEAD:refs/heads/main"]);
  // The ref moved; A's post-receive hook (a node process starting) has not recorded the push yet.
  await waitFor(
    "the push to move the ref",
    async () =>
      (await runGit(["--git-dir", repo, "rev-parse", "refs/heads/main"], work)).stdout.trim() === sha,
    { timeoutMs: 60_000, intervalMs: 5, explain: p.stderr },
  );
  const recordedBefore = sql("select id from pushes where new_sha = ?", sha).length;
  await fleet.kill(a);
  const result = await p.run;
  if (result.exitCode !== 0) assert.match(p.stderr(), CONNECTION_LOST);
  // The ref stays moved: a commit in the repo must not stay without its record and evaluation.
  const e = await evaluationDone(sha);
  assert.is(e.state, "succeeded", explain());
  assert.is(sql("select id from pushes where new_sha = ?", sha).length, 1, "the push is recorded once");
  if (recordedBefore === 0)
    assert.match(fleet.log(b), /pushes a stopped server left unrecorded caught up/, "B's leader caught up");
  await waitFor("git in the shared repo to end", () => gitIn(repo).length === 0, { timeoutMs: 30_000 });
  assert.is((await runGit(["--git-dir", repo, "fsck", "--no-progress"], work)).exitCode, 0);
  await assertNothingLostOrDuplicated(b);
});

test("a builder's lease survives the death of its server: renewed through B, built once", async () => {
  await freshA();
  // Longer than the lease (15 s): it must be renewed, and after A died only B can renew it.
  const sha = await addPackage("leased", sleeper(20, `leased-${randomBytes(4).toString("hex")}`));
  const r = await push(work, b.gitUrl("acme", TEST_ADMIN_TOKEN), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  const leased = await waitFor(
    "the leased build to run on a builder",
    async () => {
      const [e] = sql<{ id: number }>("select id from evaluations where commit_sha = ?", sha);
      const job = e && jobsOf(e.id).find((j) => j.attr === "leased");
      if (job?.state !== "running") return undefined;
      const res = await fetch(`${b.url}/api/v1/builds/${job.id}/log`, {
        headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` },
      });
      return (await res.text()).includes("building '") && job;
    },
    { timeoutMs: 240_000, explain },
  );
  await fleet.kill(a);
  const e = await evaluationDone(sha);
  assert.is(e.state, "succeeded", explain());
  const done = jobsOf(e.id).find((j) => j.attr === "leased");
  assert.is(done?.id, leased.id);
  assert.is(done?.state, "succeeded", explain());
  assert.is(done?.attempts, 1, `claimed once, its lease renewed through B\n${explain()}`);
  // The builder that held the lease reported the result, after going on with B.
  const [result] = sql<{ builder: string }>(
    "select builder from build_results where build_id = ?",
    leased.id,
  );
  const builder = builders.find((x) => x.name === result?.builder);
  assert.ok(builder, `the result names one of this case's builders: ${JSON.stringify(result)}`);
  assert.match(builder.log(), `going on with ${b.url}`);
  assert.not.match(builder.log(), /lease is gone/);
  await assertNothingLostOrDuplicated(b);
});

test.run();
