/**
 * Client failover with real processes: `--server DEAD,LIVE` (the first URL a port nobody listens on) for the CLI
 * and a builder, and a builder whose server is killed with SIGKILL mid-build and restarted on the same data dir at
 * another URL (the builder's second one): it keeps renewing its lease there and finishes the build on it; and a build
 * that ends while its only server is away, uploaded and reported once the server is back on its port.
 */
import { mkdir, mkdtemp } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type BuilderProcess, serverSystem, startBuilderProcess } from "../../testing/builder.js";
import { buildFinished, queryDb, runFlox } from "../../testing/ci-harness.js";
import { removeTree } from "../../testing/remove-tree.js";
import { commitPackage, ensureCompiledHooks, push, workRepoFromFixture } from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";

let srv: TestServer;
let tmp = "";
let dataDir = "";
let work = "";
let builderToken = "";
let system = "";
let dead = "";
const builders: BuilderProcess[] = [];

/** A loopback port nobody listens on (it was free a moment ago). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface BuildRow {
  attr: string;
  id: number;
  state: string;
  attempts: number;
}

function builds(): Record<string, BuildRow> {
  const rows = queryDb<BuildRow>(
    dataDir,
    `select j.attr, b.id, b.state, b.attempts from eval_jobs j join builds b on b.id = j.build_id
     where j.evaluation_id = (select max(id) from evaluations)`,
  );
  return Object.fromEntries(rows.map((r) => [r.attr, r]));
}

/** A build's log as the current server has it. */
const buildLog = async (id: number) =>
  (
    await fetch(`${srv.url}/api/v1/builds/${id}/log`, {
      headers: { authorization: `Bearer ${srv.adminToken}` },
    })
  ).text();

const explain = () =>
  `builds: ${JSON.stringify(builds())}\n${builders.map((b) => `--- ${b.name}\n${b.log().slice(-3000)}`).join("\n")}\n--- server\n${srv.stderr().slice(-2000)}`;

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-failover-"));
  dataDir = join(tmp, "data");
  await mkdir(dataDir);
  // A lease long enough to outlive the server's restart: the point is that it is renewed, not re-granted.
  srv = await startTestServer({ dataDir, env: { FLOX_LEASE_SECONDS: "30" } });
  assert.is((await srv.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  const t = await srv.api("POST", "/api/v1/tokens", { scope: "builder", name: "builders" });
  assert.is(t.status, 201, JSON.stringify(t.body));
  builderToken = t.body.secret;
  system = await serverSystem(dataDir);
  dead = `http://127.0.0.1:${await freePort()}`;
});

test.after(async () => {
  for (const b of builders) await b.stop("SIGKILL");
  await srv?.stop();
  if (tmp) await removeTree(tmp);
});

test("the CLI given --server DEAD,LIVE answers from the live one", async () => {
  const r = await runFlox(`${dead},${srv.url}`, srv.adminToken, join(tmp, "config"), [
    "--json",
    "org",
    "list",
  ]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /"acme"/);
  // Only the dead server: the error names it, and the command fails (no hang, no retry on a wrong answer).
  const gone = await runFlox(dead, srv.adminToken, join(tmp, "config"), ["org", "list"]);
  assert.is.not(gone.exitCode, 0);
  assert.match(gone.stderr, `cannot reach the flox server at ${dead}`);
});

test("the CLI refuses a server list with a part that is not a URL, saying which", async () => {
  const r = await runFlox(`${srv.url},ftp://x`, srv.adminToken, join(tmp, "config"), ["org", "list"]);
  assert.is.not(r.exitCode, 0);
  assert.match(r.stderr, /ftp:\/\/x/);
});

test("a builder given --server DEAD,LIVE builds", async () => {
  work = await workRepoFromFixture("dep-chain", tmp);
  const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  await waitFor("the evaluation's builds", () => Object.keys(builds()).length > 0, { explain });
  builders.push(
    startBuilderProcess(
      { url: `${dead},${srv.url}` },
      { name: "b1", token: builderToken, store: join(tmp, "store-b1"), system },
    ),
  );
  const all = await waitFor(
    "every build to finish",
    () => {
      const b = builds();
      return Object.values(b).every((x) => buildFinished(x.state)) && b;
    },
    { timeoutMs: 300_000, explain },
  );
  for (const b of Object.values(all)) assert.is(b.state, "succeeded", explain());
});

test("a builder whose server is killed mid-build finishes it on the next URL with its lease intact", async () => {
  await commitPackage(work, "slow", "sleep 12; mkdir $out");
  const next = `http://127.0.0.1:${await freePort()}`;
  // The builder that runs now talks to the first server only while it lives; the next URL is where it comes back.
  for (const b of builders.splice(0)) await b.stop("SIGTERM");
  const b2 = startBuilderProcess(
    { url: `${srv.url},${next}` },
    { name: "b2", token: builderToken, store: join(tmp, "store-b1"), system },
  );
  builders.push(b2);
  const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  // Running in the database is not enough: the build must be under way on the builder (its log says so).
  const slow = await waitFor("the slow build to run", () => builds().slow, { timeoutMs: 300_000, explain });
  await waitFor(
    "the builder to be building the slow build",
    async () => {
      return (await buildLog(slow.id)).includes("building '");
    },
    { timeoutMs: 300_000, explain },
  );

  srv.process.kill("SIGKILL");
  await srv.stop();
  srv = await startTestServer({
    dataDir,
    args: ["--listen", next.replace("http://", "")],
    env: { FLOX_LEASE_SECONDS: "30" },
  });
  assert.is(srv.url, next);

  const done = await waitFor(
    "the slow build to finish",
    () => {
      const s = builds().slow;
      return s && buildFinished(s.state) && s;
    },
    { timeoutMs: 300_000, explain },
  );
  const log = await buildLog(done.id);
  assert.is(done.state, "succeeded", `${explain()}\n--- build log\n${log}`);
  // One attempt: the lease was renewed through the next server, never lost and handed out again.
  assert.is(done.attempts, 1, `${explain()}\n--- build log\n${log}`);
  assert.is(done.id, slow.id);
  assert.match(b2.log(), `going on with ${next}`);
  assert.not.match(b2.log(), /lease is gone/);
});

test("a build that ends while its only server is away is uploaded and reported once it is back, in one attempt", async () => {
  await commitPackage(work, "ends-in-outage", "echo about-to-finish; sleep 3; mkdir $out");
  for (const b of builders.splice(0)) await b.stop("SIGTERM");
  // One URL: no other server to turn to, only the same one back on the same port.
  const b3 = startBuilderProcess(
    { url: srv.url },
    { name: "b3", token: builderToken, store: join(tmp, "store-b1"), system },
  );
  builders.push(b3);
  const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  const build = await waitFor("the build to run", () => builds()["ends-in-outage"], {
    timeoutMs: 300_000,
    explain,
  });
  await waitFor(
    "the build to be in its last 3 s",
    async () => {
      return (await buildLog(build.id)).includes("about-to-finish");
    },
    { timeoutMs: 300_000, intervalMs: 100, explain },
  );

  const listen = srv.url.replace("http://", "");
  srv.process.kill("SIGKILL");
  await srv.stop();
  // Away while the build ends: the upload (and then the report) find nobody.
  await waitFor("the builder's upload to fail", () => /uploading to .* failed/.test(b3.log()), {
    timeoutMs: 30_000,
    explain,
  });
  await new Promise((r) => setTimeout(r, 2000));
  srv = await startTestServer({ dataDir, args: ["--listen", listen], env: { FLOX_LEASE_SECONDS: "30" } });

  const done = await waitFor(
    "the build to finish",
    () => {
      const s = builds()["ends-in-outage"];
      return s && buildFinished(s.state) && s;
    },
    { timeoutMs: 120_000, explain },
  );
  assert.is(done.state, "succeeded", explain());
  assert.is(done.attempts, 1, explain());
  assert.match(b3.log(), /trying again on/, "the upload met the outage");
  // What the builder wrote into the build's log while the server was away was held and sent once it was back.
  const log = await buildLog(done.id);
  assert.match(log, /about-to-finish/);
  assert.match(log, /flox builder: uploading to \S+ failed/);
  assert.match(log, /flox builder: result: succeeded/);
  // The output is in the Storehouse: its narinfo answers.
  const outs = await srv.api("GET", `/api/v1/builds/${done.id}`);
  const out = Object.values(outs.body.build.outputs as Record<string, string>)[0] ?? "";
  const narinfo = await fetch(`${srv.url}/cache/${out.slice(11, 43)}.narinfo`);
  assert.is(narinfo.status, 200, `${out}: ${explain()}`);
});

test.run();
