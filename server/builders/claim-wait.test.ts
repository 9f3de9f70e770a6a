/**
 * The long-poll claim (POST /builder/claim with waitMs) against a real `flox server` and a real `git push`: a
 * held claim is answered with a build the push queues while it waits, an empty wait ends in 204, a claim whose
 * builder hung up claims nothing afterwards (no build leased to a builder that is gone), and a claim sent while the
 * builder still holds maxJobs leases (as `flox builder` sends its next claim while it uploads and reports) is held
 * until a result frees one, never answered with a lease beyond maxJobs.
 */
import { cp, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { serverSystem } from "../../testing/builder.js";
import { queryDb } from "../../testing/ci-harness.js";
import { removeTree } from "../../testing/remove-tree.js";
import {
  commitAll,
  ensureCompiledHooks,
  fixtureDir,
  push,
  workRepoFromFixture,
} from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";

let srv: TestServer;
let tmp = "";
let token = "";
let system = "";
/** The build and lease "waiter" holds after the second test. */
let held: { build: number; lease: string } | undefined;

const claim = (name: string, waitMs: number, signal?: AbortSignal) =>
  fetch(`${srv.url}/api/v1/builder/claim`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ builderName: name, systems: [system], features: [], maxJobs: 1, waitMs }),
    ...(signal ? { signal } : {}),
  });

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-claim-wait-"));
  srv = await startTestServer();
  assert.is((await srv.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  const t = await srv.api("POST", "/api/v1/tokens", { scope: "builder", name: "waiters" });
  assert.is(t.status, 201, JSON.stringify(t.body));
  token = t.body.secret;
  system = await serverSystem(srv.dataDir);
});

test.after(async () => {
  await srv?.stop();
  if (tmp) await removeTree(tmp);
});

test("a wait with nothing queued ends in 204; a bad waitMs is refused with what is allowed", async () => {
  assert.is((await claim("idle", 300)).status, 204);
  const bad = await claim("idle", 60_000);
  assert.is(bad.status, 400);
  assert.match(await bad.text(), /waitMs/);
});

test("a held claim gets a build queued while it waits; a claim whose builder hung up claims nothing", async () => {
  // This one hangs up while it waits: it must not lease anything afterwards.
  const hangUp = new AbortController();
  const abandoned = claim("gone", 20_000, hangUp.signal).catch(() => "aborted");
  const waiting = claim("waiter", 20_000);
  await new Promise((r) => setTimeout(r, 300));
  hangUp.abort();
  assert.is(await abandoned, "aborted");

  const work = await workRepoFromFixture("dep-chain", tmp);
  await cp(join(fixtureDir("failing-build"), "pkgs"), join(work, "pkgs"), { recursive: true });
  await commitAll(work, "three independent leaves");
  const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);

  const answer = await waiting;
  assert.is(answer.status, 200, await answer.clone().text());
  const { build, lease } = (await answer.json()) as {
    build: { id: number; drvPath: string };
    lease: { id: string };
  };
  held = { build: build.id, lease: lease.id };
  const rows = queryDb<{ id: number; state: string; builder: string | null }>(
    srv.dataDir,
    "select b.id, b.state, l.builder from builds b left join build_leases l on l.build_id = b.id",
  );
  assert.ok(
    rows.some((x) => x.id === build.id && x.state === "running" && x.builder === "waiter"),
    JSON.stringify(rows),
  );
  // dep-chain's leaf and failing-build's two packages are claimable at once, so a claim still waiting for "gone"
  // would take one within its recheck interval (RECHECK_MS); none may be leased to it.
  await new Promise((r) => setTimeout(r, 1500));
  const leases = queryDb<{ builder: string }>(srv.dataDir, "select builder from build_leases");
  assert.equal(
    leases.map((l) => l.builder),
    ["waiter"],
  );
});

test("a claim sent while the builder holds maxJobs leases waits for a result to free one, then gets the next build", async () => {
  assert.ok(held, "the test before leaves waiter holding a build");
  const first = held;
  let settled = false;
  const next = claim("waiter", 20_000).finally(() => {
    settled = true;
  });
  // Claimable builds are queued (two of the three leaves), but waiter's one job is taken: the claim must wait.
  await new Promise((r) => setTimeout(r, 1500));
  assert.not.ok(settled, "a claim beyond maxJobs was answered while the lease was still out");
  assert.equal(
    queryDb<{ build_id: number }>(
      srv.dataDir,
      "select build_id from build_leases where builder = 'waiter'",
    ).map((l) => l.build_id),
    [first.build],
  );
  const result = await fetch(`${srv.url}/api/v1/builder/builds/${first.build}/result`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ lease: first.lease, status: "failed", message: "failed on purpose by the test" }),
  });
  assert.is(result.status, 200, await result.clone().text());
  const answer = await next;
  assert.is(answer.status, 200, await answer.clone().text());
  const { build } = (await answer.json()) as { build: { id: number } };
  assert.is.not(build.id, first.build);
  assert.equal(
    queryDb<{ build_id: number }>(
      srv.dataDir,
      "select build_id from build_leases where builder = 'waiter'",
    ).map((l) => l.build_id),
    [build.id],
  );
});

test.run();
