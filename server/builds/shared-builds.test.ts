/**
 * One build shared by two orgs (the same package, so the same derivation), end to end against a real server, real
 * pushes and a real `flox builder`: each org sees only its own jobs and a count of the other's (API, CLI, web page),
 * one org's cancel withdraws only its own want while the build goes on for the other, the build stops once the
 * last want goes, and a third org cannot tell the build from one that does not exist.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type BuilderProcess, startOneBuilder } from "../../testing/builder.js";
import { queryDb, runFlox } from "../../testing/ci-harness.js";
import { removeTree } from "../../testing/remove-tree.js";
import { commitAll, ensureCompiledHooks, push, workRepoFromFixture } from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";

let srv: TestServer;
let tmp = "";
let builder: BuilderProcess | undefined;
const member: Record<string, string> = {};
// A duration no other process on this machine sleeps for: the test looks for it with pgrep.
const sleep = `sleep ${200_000 + (Date.now() % 700_000)}`;

/** The sleeper job of `org`'s newest evaluation: its evaluation, its build and what the org sees of it. */
function sleeperOf(org: string) {
  return queryDb<{ evaluation: number; build: number; state: string; withdrawn: string | null }>(
    srv.dataDir,
    `select e.id as evaluation, b.id as build, b.state, j.withdrawn_at as withdrawn
     from eval_jobs j join evaluations e on e.id = j.evaluation_id join jobsets s on s.id = e.jobset_id
     join orgs o on o.id = s.org_id join builds b on b.id = j.build_id
     where o.name = ? and j.attr = 'sleeper' order by e.id desc limit 1`,
    org,
  )[0];
}

const explain = () =>
  `acme: ${JSON.stringify(sleeperOf("acme"))} beta: ${JSON.stringify(sleeperOf("beta"))}\n--- builder\n${builder?.log().slice(-2000)}\n--- server\n${srv.stderr().slice(-2000)}`;

function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>) {
  return waitFor(what, probe, { explain, timeoutMs: 120_000 });
}

const sleeping = async () => (await execa("pgrep", ["-f", sleep], { reject: false })).exitCode === 0;

function flox(org: string, args: string[]) {
  return runFlox(srv.url, member[org] ?? "", tmp, args);
}

/** The state `org` sees its sleeper job in, through the evaluation API. */
async function jobStateSeenBy(org: string, evaluation: number): Promise<string> {
  const r = await srv.api("GET", `/api/v1/evaluations/${evaluation}`, undefined, member[org]);
  assert.is(r.status, 200, JSON.stringify(r.body));
  const job = (r.body.evaluation.jobs as Array<{ attr: string; build: { state: string } }>).find(
    (j) => j.attr === "sleeper",
  );
  return job?.build.state ?? "missing";
}

async function pushSleeper(org: string): Promise<void> {
  const work = await workRepoFromFixture("failing-build", join(tmp, org));
  await rm(join(work, "pkgs", "fails"), { recursive: true });
  await mkdir(join(work, "pkgs", "sleeper"), { recursive: true });
  await writeFile(
    join(work, "pkgs", "sleeper", "default.nix"),
    `{ runCommand }:\n\nrunCommand "sleeper" { } "echo sleeping; ${sleep}; mkdir $out"\n`,
  );
  await commitAll(work, "a long build");
  const r = await push(work, srv.gitUrl(org, srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
}

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-shared-builds-"));
  srv = await startTestServer({ dataDir: join(tmp, "data"), env: { FLOX_LEASE_SECONDS: "3" } });
  for (const org of ["acme", "beta", "gamma"]) {
    assert.is((await srv.api("POST", "/api/v1/orgs", { name: org })).status, 201);
    const t = await srv.api("POST", "/api/v1/tokens", { scope: "org", org, role: "member" });
    assert.is(t.status, 201, JSON.stringify(t.body));
    member[org] = t.body.secret;
  }
});

test.after(async () => {
  await builder?.stop();
  await srv?.stop();
  if (tmp) await removeTree(tmp);
});

test("a build two orgs share: each sees only its own jobs, cancels only its own want; a third org sees nothing", async () => {
  await pushSleeper("acme");
  await pushSleeper("beta");
  const [a, b] = await until("both orgs' sleeper jobs", () => {
    const x = [sleeperOf("acme"), sleeperOf("beta")];
    return x[0] && x[1] && x;
  });
  assert.ok(a && b);
  assert.is(a.build, b.build, "the same derivation is one build, shared by both orgs");
  const id = a.build;
  assert.is(a.state, "queued");

  // (a) beta's member sees beta's jobs and only a count of acme's: in the API, the build list, the CLI, the page.
  const seen = await srv.api("GET", `/api/v1/builds/${id}`, undefined, member.beta);
  assert.is(seen.status, 200, JSON.stringify(seen.body));
  assert.equal(
    seen.body.build.jobs.map((j: { org: string; attr: string }) => `${j.org}#${j.attr}`),
    ["beta#sleeper"],
  );
  assert.is(seen.body.build.otherJobs, 1);
  assert.not.match(JSON.stringify(seen.body), /acme/);
  const ours = await srv.api("GET", `/api/v1/builds/${id}`, undefined, member.acme);
  assert.is(ours.body.build.jobs[0]?.org, "acme");
  assert.is(ours.body.build.otherJobs, 1);
  const listed = await srv.api("GET", "/api/v1/builds", undefined, member.beta);
  assert.is(listed.status, 200);
  assert.ok(listed.body.builds.some((x: { id: number }) => x.id === id));
  assert.not.match(JSON.stringify(listed.body), /acme/);
  const shown = await flox("beta", ["build", String(id)]);
  assert.is(shown.exitCode, 0, shown.stderr);
  assert.match(shown.stdout, /beta\/main#sleeper \(evaluation #\d+\) queued/);
  assert.match(shown.stdout, /and 1 job\(s\) of other orgs/);
  assert.not.match(shown.stdout, /acme/);
  const page = await fetch(`${srv.url}/beta/builds/${id}`, {
    headers: { authorization: `Bearer ${member.beta}`, accept: "text/html" },
  });
  assert.is(page.status, 200);
  const html = await page.text();
  assert.match(html, /and 1 job of other orgs/);
  assert.not.match(html, /acme/);
  const pageJson = await fetch(`${srv.url}/beta/builds/${id}`, {
    headers: { authorization: `Bearer ${member.beta}` },
  });
  assert.not.match(await pageJson.text(), /acme/);

  // (c) gamma wants nothing of it: every call answers exactly as for a build that does not exist.
  const none = 987654;
  const calls: Array<[string, (n: number) => string, unknown]> = [
    ["GET", (n) => `/api/v1/builds/${n}`, undefined],
    ["GET", (n) => `/api/v1/builds/${n}/log`, undefined],
    ["POST", (n) => `/api/v1/builds/${n}/cancel`, undefined],
    ["POST", (n) => `/api/v1/builds/${n}/restart`, undefined],
    ["POST", (n) => `/api/v1/builds/${n}/priority`, { priority: 5 }],
  ];
  for (const [method, path, body] of calls) {
    const real = await srv.api(method, path(id), body, member.gamma);
    const fake = await srv.api(method, path(none), body, member.gamma);
    assert.is(real.status, 404, `${method} ${path(id)}: ${JSON.stringify(real.body)}`);
    assert.equal(
      JSON.parse(JSON.stringify(real.body).replaceAll(`build ${id}`, "build N")),
      JSON.parse(JSON.stringify(fake.body).replaceAll(`build ${none}`, "build N")),
      `${method} ${path(id)} answers as for a nonexistent build`,
    );
  }
  const gammaPage = await fetch(`${srv.url}/gamma/builds/${id}`, {
    headers: { authorization: `Bearer ${member.gamma}` },
  });
  const gammaNone = await fetch(`${srv.url}/gamma/builds/${none}`, {
    headers: { authorization: `Bearer ${member.gamma}` },
  });
  assert.is(gammaPage.status, gammaNone.status);
  assert.is(
    (await gammaPage.text()).replaceAll(`build ${id}`, "build N"),
    (await gammaNone.text()).replaceAll(`build ${none}`, "build N"),
  );
  const cliGamma = await flox("gamma", ["cancel", String(id)]);
  assert.is(cliGamma.exitCode, 1);
  assert.match(cliGamma.stderr, new RegExp(`there is no build ${id}`));
  assert.is(sleeperOf("acme")?.state, "queued", "gamma's calls changed nothing");

  // A member of an org that wants it may bump it (the priority is the build's: it runs once for all).
  const bumped = await flox("beta", ["bump", String(id), "--priority", "50"]);
  assert.is(bumped.exitCode, 0, bumped.stderr);
  assert.match(bumped.stdout, /priority 50/);

  builder = await startOneBuilder(srv, tmp);
  await until(
    "the sleeper running",
    async () => sleeperOf("acme")?.state === "running" && (await sleeping()),
  );

  // (b) beta cancels: beta's jobs read cancelled, the build goes on for acme, its builder keeps its lease.
  const expiry = () =>
    queryDb<{ at: number }>(
      srv.dataDir,
      "select expires_at as at from build_leases where build_id = ?",
      id,
    )[0]?.at ?? 0;
  const leaseBefore = expiry();
  const betaCancel = await flox("beta", ["cancel", String(id)]);
  assert.is(betaCancel.exitCode, 0, betaCancel.stderr);
  assert.match(betaCancel.stdout, /cancelled for your org\(s\); still running for others/);
  await until("a heartbeat after beta's cancel to extend the lease", () => expiry() > leaseBefore);
  assert.is(sleeperOf("acme")?.state, "running");
  assert.ok(await sleeping(), "the build process still runs for acme");
  assert.not.match(builder.log(), /stopped \(cancel\)/);
  assert.is(await jobStateSeenBy("beta", b.evaluation), "cancelled");
  assert.is(await jobStateSeenBy("acme", a.evaluation), "running");
  const afterBeta = await srv.api("GET", `/api/v1/builds/${id}`, undefined, member.beta);
  assert.is(afterBeta.body.build.state, "running");
  assert.is(afterBeta.body.build.jobs[0]?.state, "cancelled");

  // A restart by beta makes it want the build again; then beta withdraws once more.
  const betaRestart = await flox("beta", ["restart", String(id)]);
  assert.is(betaRestart.exitCode, 0, betaRestart.stderr);
  assert.is(await jobStateSeenBy("beta", b.evaluation), "running");
  assert.is((await flox("beta", ["cancel", String(id)])).exitCode, 0);
  assert.is(await jobStateSeenBy("beta", b.evaluation), "cancelled");

  // acme cancels too: nobody wants it any more, so the build is cancelled and its builder kills it.
  const acmeCancel = await flox("acme", ["cancel", String(id)]);
  assert.is(acmeCancel.exitCode, 0, acmeCancel.stderr);
  assert.match(
    acmeCancel.stdout,
    new RegExp(`^build #${id}: cancelled$`),
    `${acmeCancel.stdout}\n${explain()}`,
  );
  await until("the build process to be killed", async () => !(await sleeping()));
  await until("the builder to say it stopped", () => /stopped \(cancel\)/.test(builder?.log() ?? ""));
  assert.is(sleeperOf("acme")?.state, "cancelled");
  assert.is(
    queryDb<{ n: number }>(srv.dataDir, "select count(*) as n from build_leases where build_id = ?", id)[0]
      ?.n,
    0,
    "the lease is revoked",
  );
  assert.is(await jobStateSeenBy("acme", a.evaluation), "cancelled");

  // beta restarts the cancelled build: it runs again for beta alone; acme's job stays cancelled.
  const again = await flox("beta", ["restart", String(id)]);
  assert.is(again.exitCode, 0, again.stderr);
  await until(
    "the sleeper running again",
    async () => sleeperOf("beta")?.state === "running" && (await sleeping()),
  );
  assert.match(await jobStateSeenBy("beta", b.evaluation), /queued|running/);
  assert.is(await jobStateSeenBy("acme", a.evaluation), "cancelled");
  // beta cancels its evaluation: that withdraws beta's want, the last one, so the build stops.
  const evalCancel = await flox("beta", ["cancel", "--eval", String(b.evaluation), "--json"]);
  assert.is(evalCancel.exitCode, 0, evalCancel.stderr);
  assert.ok(JSON.parse(evalCancel.stdout).changed.includes(id));
  await until("the build process to be killed again", async () => !(await sleeping()));
  assert.is(sleeperOf("beta")?.state, "cancelled");
});

test.run();
