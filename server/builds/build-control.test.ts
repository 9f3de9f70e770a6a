/**
 * Steering builds end to end, through the real `flox` CLI against a real server and a real `flox builder`:
 * listing and showing builds, their logs (also through `nix log --store`), restart of a failure with what waited
 * on it, a cancel that reaches the builder and kills the build, a bump that moves a build ahead, and a server
 * killed with SIGKILL mid-queue that loses and duplicates nothing.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type BuilderProcess, serverSystem, startBuilderProcess } from "../../testing/builder.js";
import { buildFinished, queryDb, runFlox } from "../../testing/ci-harness.js";
import { removeTree } from "../../testing/remove-tree.js";
import { commitAll, ensureCompiledHooks, push, workRepoFromFixture } from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";

let srv: TestServer;
let tmp = "";
let dataDir = "";
let work = "";
let builderToken = "";
let memberToken = "";
let readerToken = "";
let system = "";
const builders: BuilderProcess[] = [];

interface BuildRow {
  attr: string;
  id: number;
  state: string;
  attempts: number;
  started_at: string | null;
  outputs: string;
  drv_path: string;
}

function buildsByAttr(): Record<string, BuildRow> {
  const rows = queryDb<BuildRow>(
    dataDir,
    `select j.attr, b.id, b.state, b.attempts, b.started_at, b.outputs, b.drv_path
     from eval_jobs j join builds b on b.id = j.build_id
     where j.evaluation_id = (select max(id) from evaluations)`,
  );
  return Object.fromEntries(rows.map((r) => [r.attr, r]));
}

const explain = () =>
  `builds: ${JSON.stringify(buildsByAttr())}\n${builders.map((b) => `--- ${b.name}\n${b.log().slice(-2000)}`).join("\n")}\n--- server\n${srv.stderr().slice(-2000)}`;

function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 120_000): Promise<T> {
  return waitFor(what, probe, { explain, timeoutMs });
}

const allFinished = () => {
  const b = buildsByAttr();
  return Object.values(b).every((x) => buildFinished(x.state)) && b;
};

function flox(args: string[], token = memberToken) {
  return runFlox(srv.url, token, tmp, args);
}

async function pushPackages(pkgs: Record<string, string>, message: string): Promise<void> {
  for (const [name, nix] of Object.entries(pkgs)) {
    await mkdir(join(work, "pkgs", name), { recursive: true });
    await writeFile(join(work, "pkgs", name, "default.nix"), nix);
  }
  await commitAll(work, message);
  const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
}

/** A test that failed half-way leaves its builder behind: the next test starts without it. */
async function stopBuilders(): Promise<void> {
  for (const b of builders.splice(0)) await b.stop();
}

function startBuilder(name: string, args: string[] = []): BuilderProcess {
  const b = startBuilderProcess(srv, {
    name,
    token: builderToken,
    store: join(tmp, `store-${name}`),
    system,
    args,
  });
  builders.push(b);
  return b;
}

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-build-control-"));
  dataDir = join(tmp, "data");
  srv = await startTestServer({ dataDir, env: { FLOX_LEASE_SECONDS: "3" } });
  assert.is((await srv.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  assert.is((await srv.api("POST", "/api/v1/orgs", { name: "elsewhere" })).status, 201);
  const token = async (body: object) => {
    const t = await srv.api("POST", "/api/v1/tokens", body);
    assert.is(t.status, 201, JSON.stringify(t.body));
    return t.body.secret as string;
  };
  builderToken = await token({ scope: "builder", name: "builders" });
  memberToken = await token({ scope: "org", org: "acme", role: "member" });
  readerToken = await token({ scope: "org", org: "acme", role: "reader" });
  system = await serverSystem(dataDir);
  work = await workRepoFromFixture("failing-build", tmp);
});

test.after(async () => {
  await stopBuilders();
  await srv?.stop();
  if (tmp) await removeTree(tmp);
});

test("builds, build, log and nix log show what happened; restart requeues a failure with what waited on it", async () => {
  await pushPackages(
    { "needs-fails": `{ runCommand, fails }:\n\nrunCommand "needs-fails" { } "ls \${fails}; mkdir $out"\n` },
    "a failure and a dependent",
  );
  const b1 = startBuilder("b1");
  const first = await until("every build to finish", allFinished);
  assert.equal(Object.fromEntries(Object.entries(first).map(([k, v]) => [k, v.state])), {
    hello: "succeeded",
    fails: "failed",
    "needs-fails": "dependency-failed",
  });
  const { hello, fails } = first as Record<string, BuildRow>;

  const listed = await flox(["builds", "--org", "acme", "--json"]);
  assert.is(listed.exitCode, 0, listed.stderr);
  const byId = new Map<number, { state: string; jobs: Array<{ attr: string }>; builder: string | null }>(
    JSON.parse(listed.stdout).builds.map((b: { id: number }) => [b.id, b]),
  );
  assert.is(byId.get(hello?.id ?? 0)?.state, "succeeded");
  assert.is(byId.get(fails?.id ?? 0)?.jobs[0]?.attr, "fails");
  assert.is(byId.get(fails?.id ?? 0)?.builder, "b1");

  const failedOnly = await flox(["builds", "--state", "failed"]);
  assert.is(failedOnly.exitCode, 0, failedOnly.stderr);
  assert.match(failedOnly.stdout, new RegExp(`#${fails?.id}\\s+failed\\s+fails-1\\.0\\s+acme/main#fails`));
  assert.not.match(failedOnly.stdout, /hello/);
  const badState = await flox(["builds", "--state", "broken"]);
  assert.is(badState.exitCode, 2);
  assert.match(badState.stderr, /not a build state; one of queued/);

  const shown = await flox(["build", String(first["needs-fails"]?.id)]);
  assert.is(shown.exitCode, 0, shown.stderr);
  assert.match(shown.stdout, new RegExp(`waits for: #${fails?.id} failed`));
  assert.match(shown.stdout, /acme\/main#needs-fails/);

  const log = await flox(["log", String(fails?.id)]);
  assert.is(log.exitCode, 0, log.stderr);
  assert.match(log.stdout, /error: the build of fails went wrong on purpose/);
  const followed = await flox(["log", String(fails?.id), "--follow"]);
  assert.is(followed.exitCode, 1, "following a failed build's log ends with exit 1");
  assert.match(followed.stderr, /failed/);
  const followedOk = await flox(["log", String(hello?.id), "--follow"]);
  assert.is(followedOk.exitCode, 0, followedOk.stderr);
  assert.match(followedOk.stdout, /realising .*hello/);

  // A stock Nix reads the log from the Storehouse: the output's Deriver, then /cache/log/<drv>. acme is private, so
  // only with a netrc naming a token that may read acme (nix sends it as Basic auth).
  const helloOut = (JSON.parse(hello?.outputs ?? "{}") as Record<string, string>).out ?? "";
  const conf = join(tmp, "nixlog");
  await mkdir(conf, { recursive: true });
  const host = new URL(srv.url).hostname;
  const outsider = (
    await srv.api("POST", "/api/v1/tokens", { scope: "org", org: "elsewhere", role: "owner" })
  ).body.secret as string;
  const nixLog = async (token?: string) => {
    const netrc = join(conf, "netrc");
    await writeFile(netrc, token ? `machine ${host} login x password ${token}\n` : "");
    await writeFile(
      join(conf, "nix.conf"),
      `experimental-features = nix-command\nsubstituters =\nnetrc-file = ${netrc}\n`,
    );
    return execa("nix", ["log", "--store", `${srv.url}/cache`, helloOut], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: conf,
        XDG_CACHE_HOME: join(conf, "cache"),
        NIX_CONF_DIR: conf,
        NIX_USER_CONF_FILES: join(conf, "nix.conf"),
      },
      extendEnv: false,
      reject: false,
    });
  };
  const withNetrc = await nixLog(readerToken);
  assert.is(withNetrc.exitCode, 0, String(withNetrc.stderr));
  assert.match(String(withNetrc.stdout), /realising .*hello/);
  const anonymous = await nixLog();
  assert.is.not(anonymous.exitCode, 0, "a private org's log needs a token");
  assert.not.match(String(anonymous.stdout), /realising/);
  const stranger = await nixLog(outsider);
  assert.is.not(stranger.exitCode, 0, "a token of another org may not read acme's log");
  assert.not.match(String(stranger.stdout), /realising/);
  const drv = (hello?.drv_path ?? "").replace("/nix/store/", "");
  const logOf = (name: string, token?: string) =>
    fetch(`${srv.url}/cache/log/${name}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  assert.is((await logOf(drv)).status, 401);
  assert.is((await logOf(drv, outsider)).status, 404, "another org's token: as if there were no such log");
  assert.is((await logOf(`${"0".repeat(32)}-nope.drv`, outsider)).status, 404);
  assert.is((await logOf(`${"0".repeat(32)}-nope.drv`, readerToken)).status, 404);
  assert.is(
    (await logOf(`${"0".repeat(32)}-nope.drv`)).status,
    401,
    "anonymous: the same 401 as a private log",
  );
  assert.is((await logOf("..%2F..%2Fdb.sqlite", readerToken)).status, 404);
  assert.is((await logOf(drv, readerToken)).status, 200);

  // A reader may look but not steer.
  const denied = await flox(["restart", String(fails?.id)], readerToken);
  assert.is(denied.exitCode, 1);
  assert.match(denied.stderr, /may not steer build/);

  const restarted = await flox(["restart", String(fails?.id)]);
  assert.is(restarted.exitCode, 0, restarted.stderr);
  assert.match(restarted.stdout, new RegExp(`build #${fails?.id}: (queued|running)`));
  const again = await until("the restarted builds to finish again", () => {
    const b = buildsByAttr();
    return b.fails && b.fails.attempts === 1 && b.fails.started_at !== fails?.started_at && allFinished();
  });
  assert.is(again.fails?.state, "failed");
  assert.is(again["needs-fails"]?.state, "dependency-failed", "the dependent was requeued and failed again");
  const logAgain = await logText(fails?.id);
  assert.is(logAgain.match(/went wrong on purpose/g)?.length, 2, "both runs are in the log");
  const notRestartable = await flox(["restart", String(hello?.id)]);
  assert.is(notRestartable.exitCode, 1);
  assert.match(notRestartable.stderr, /only a build that ended without success/);
  await b1.stop();
});

test("a cancel reaches the builder and kills the build; a bumped build runs before older ones", async () => {
  await stopBuilders();
  // A duration no other process on this machine sleeps for: the test looks for it with pgrep.
  const sleep = `sleep ${100_000 + (Date.now() % 800_000)}`;
  await pushPackages(
    {
      sleeper: `{ runCommand }:\n\nrunCommand "sleeper" { } "echo sleeping; ${sleep}; mkdir $out"\n`,
      "after-sleep": `{ runCommand, sleeper }:\n\nrunCommand "after-sleep" { } "ls \${sleeper}; mkdir $out"\n`,
      "q-first": '{ runCommand }:\n\nrunCommand "q-first" { } "mkdir $out"\n',
      "q-second": '{ runCommand }:\n\nrunCommand "q-second" { } "mkdir $out"\n',
    },
    "a long build and two short ones",
  );
  const b = await until("the new builds", () => {
    const x = buildsByAttr();
    return x.sleeper && x["q-second"] && x;
  });
  // Bump the newer of the two short builds, and make the sleeper go first of all.
  const bumped = await flox(["bump", String(b["q-second"]?.id)]);
  assert.is(bumped.exitCode, 0, bumped.stderr);
  assert.match(bumped.stdout, /priority [1-9]/);
  assert.is((await flox(["bump", String(b.sleeper?.id), "--priority", "100"])).exitCode, 0);

  const b2 = startBuilder("b2");
  await until(
    "the sleeper running on b2",
    () =>
      !!queryDb<{ n: number }>(
        dataDir,
        "select count(*) as n from build_leases where build_id = ?",
        b.sleeper?.id,
      )[0]?.n,
  );
  await until("the sleep inside the build", async () => {
    const r = await execa("pgrep", ["-f", sleep], { reject: false });
    return r.exitCode === 0;
  });
  const builders1 = JSON.parse((await flox(["builders", "--json"])).stdout).builders as Array<{
    name: string;
    connected: boolean;
    running: Array<{ build: number }>;
  }>;
  const b2Row = builders1.find((x) => x.name === "b2");
  assert.ok(b2Row?.connected);
  assert.equal(
    b2Row?.running.map((r) => r.build),
    [b.sleeper?.id],
  );

  const cancelled = await flox(["cancel", String(b.sleeper?.id)]);
  assert.is(cancelled.exitCode, 0, cancelled.stderr);
  assert.match(cancelled.stdout, /cancelled/);
  await until(
    "the build process to be killed",
    async () => (await execa("pgrep", ["-f", sleep], { reject: false })).exitCode === 1,
    20_000,
  );
  await until("b2 to say it stopped", () => /stopped \(cancel\)/.test(b2.log()) || undefined, 20_000);
  const done = await until("the short builds", () => {
    const x = buildsByAttr();
    return (
      buildFinished(x["q-first"]?.state ?? "queued") && buildFinished(x["q-second"]?.state ?? "queued") && x
    );
  });
  assert.is(done.sleeper?.state, "cancelled");
  assert.is(done["after-sleep"]?.state, "dependency-failed", "what waited on a cancelled build cannot run");
  assert.is(done["q-first"]?.state, "succeeded");
  assert.is(done["q-second"]?.state, "succeeded");
  assert.ok(
    (done["q-second"]?.started_at ?? "~") <= (done["q-first"]?.started_at ?? ""),
    "the bumped build ran first",
  );
  await b2.stop();
});

test("a server killed mid-queue restarts without losing or duplicating a build", async () => {
  await stopBuilders();
  const pkgs: Record<string, string> = {};
  for (let i = 0; i < 6; i++) {
    pkgs[`step${i}`] =
      `{ runCommand${i > 0 ? `, step${i - 1}` : ""} }:\n\nrunCommand "step${i}" { } "sleep 1; ${i > 0 ? `ls \${step${i - 1}}; ` : ""}mkdir $out"\n`;
  }
  // The cancelled sleeper would be queued again by the next evaluation: this repo no longer wants it.
  for (const gone of ["sleeper", "after-sleep"]) await rm(join(work, "pkgs", gone), { recursive: true });
  await pushPackages(pkgs, "a chain of six");
  const b3 = startBuilder("b3");
  await until("the second step to succeed", () => buildsByAttr().step1?.state === "succeeded", 120_000);
  const port = srv.port;
  srv.process.kill("SIGKILL");
  await new Promise((r) => srv.process.once("exit", r));
  srv = await startTestServer({
    dataDir,
    args: ["--listen", `127.0.0.1:${port}`],
    env: { FLOX_LEASE_SECONDS: "3" },
  });
  const all = await until("the chain to finish after the restart", () => {
    const x = allFinished();
    return x && Object.keys(pkgs).every((k) => x[k]) && x;
  });
  for (const k of Object.keys(pkgs)) assert.is(all[k]?.state, "succeeded", `${k}: ${JSON.stringify(all[k])}`);
  // Still in the repo: a new evaluation does not retry the real failure, so what needs it cannot start either.
  assert.is(all.fails?.state, "failed");
  assert.is(all["needs-fails"]?.state, "dependency-failed");
  const dupes = queryDb<{ n: number }>(
    dataDir,
    "select count(*) as n from builds group by drv_path having count(*) > 1",
  );
  assert.is(dupes.length, 0, "one build per derivation");
  assert.is(
    queryDb<{ n: number }>(dataDir, "select count(*) as n from evaluations")[0]?.n,
    3,
    "one evaluation per push, none lost or repeated",
  );
  for (const k of Object.keys(pkgs)) {
    const out = (JSON.parse(all[k]?.outputs ?? "{}") as Record<string, string>).out ?? "";
    const h = out.slice("/nix/store/".length, "/nix/store/".length + 32);
    assert.is((await fetch(`${srv.url}/cache/${h}.narinfo`)).status, 200, `${k} is in the Storehouse`);
  }
  await b3.stop();
});

test("meta.timeout and meta.maxSilent end a build as timed-out, never retried; meta.schedulingPriority orders", async () => {
  await stopBuilders();
  await pushPackages(
    {
      "too-slow": `{ runCommand }:\n\nrunCommand "too-slow" { meta.timeout = 2; } "echo working; sleep 60; mkdir $out"\n`,
      "too-quiet": `{ runCommand }:\n\nrunCommand "too-quiet" { meta.maxSilent = 2; } "echo one line; sleep 60; mkdir $out"\n`,
      urgent: `{ runCommand }:\n\nrunCommand "urgent" { meta.schedulingPriority = 50; } "mkdir $out"\n`,
    },
    "limits",
  );
  const fresh = await until("the new builds", () => {
    const x = buildsByAttr();
    return x["too-slow"] && x["too-quiet"] && x.urgent && x;
  });
  const prio = queryDb<{ id: number; priority: number; timeout_seconds: number; max_silent_seconds: number }>(
    dataDir,
    "select id, priority, timeout_seconds, max_silent_seconds from builds where id in (?, ?, ?) order by id",
    fresh["too-slow"]?.id,
    fresh["too-quiet"]?.id,
    fresh.urgent?.id,
  );
  const byId = new Map(prio.map((r) => [r.id, r]));
  assert.is(byId.get(fresh["too-slow"]?.id ?? 0)?.timeout_seconds, 2);
  assert.is(byId.get(fresh["too-quiet"]?.id ?? 0)?.max_silent_seconds, 2);
  assert.is(byId.get(fresh.urgent?.id ?? 0)?.priority, 50);
  const b4 = startBuilder("b4");
  const done = await until(
    "the limited builds to end",
    () => {
      const x = buildsByAttr();
      return ["too-slow", "too-quiet", "urgent"].every((k) => buildFinished(x[k]?.state ?? "queued")) && x;
    },
    60_000,
  );
  assert.is(done["too-slow"]?.state, "timed-out");
  assert.is(done["too-quiet"]?.state, "timed-out");
  assert.is(done["too-slow"]?.attempts, 1, "a timeout is the build's own failure: not retried");
  assert.is(done.urgent?.state, "succeeded");
  assert.ok(
    (done.urgent?.started_at ?? "~") <= (done["too-slow"]?.started_at ?? ""),
    "the high-priority build ran first",
  );
  const log = await logText(fresh["too-quiet"]?.id);
  assert.match(log, /one line/);
  await b4.stop();
});

/** A build's whole log, read as users read it (the logs live in the object store, not one file per build). */
async function logText(id: number | undefined): Promise<string> {
  const res = await fetch(`${srv.url}/api/v1/builds/${id}/log`, {
    headers: { authorization: `Bearer ${srv.adminToken}` },
  });
  assert.is(res.status, 200, `the log of build ${id}`);
  return res.text();
}

test.run();
