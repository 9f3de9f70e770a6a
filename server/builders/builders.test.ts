/**
 * Builders end to end: a real `flox server`, a real `git push`, and two real `flox builder` processes, each with
 * its own chroot store. The dependency chain builds in order, a failure cascades, a builder killed mid-build
 * loses its lease to the other, and a stock Nix client with an empty store substitutes and runs an output.
 * Builds come from the evaluator (the push creates them); nothing here inserts them by hand.
 */
import { cp, mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type BuilderProcess, serverSystem, startBuilderProcess } from "../../testing/builder.js";
import { buildFinished, queryDb } from "../../testing/ci-harness.js";
import { runFreshNix } from "../../testing/fresh-nix.js";
import { removeTree } from "../../testing/remove-tree.js";
import {
  commitAll,
  commitPackage,
  ensureCompiledHooks,
  fixtureDir,
  push,
  workRepoFromFixture,
} from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { waitFor as waitUntil } from "../../testing/wait-for.js";

let srv: TestServer;
let tmp = "";
let work = "";
let builderToken = "";
let system = "";
const running = new Map<string, BuilderProcess>();

interface BuildRow {
  attr: string;
  id: number;
  state: string;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  outputs: string;
}

const query = <T>(sql: string, ...params: unknown[]) => queryDb<T>(srv.dataDir, sql, ...params);

/** The builds of the newest evaluation, by attr. */
function buildsByAttr(): Record<string, BuildRow> {
  const rows = query<BuildRow>(`
    select j.attr, b.id, b.state, b.attempts, b.started_at, b.finished_at, b.outputs
    from eval_jobs j join builds b on b.id = j.build_id
    where j.evaluation_id = (select max(id) from evaluations)`);
  return Object.fromEntries(rows.map((r) => [r.attr, r]));
}

const explain = () =>
  `builds: ${JSON.stringify(buildsByAttr())}\n${[...running.values()].map((b) => `--- ${b.name}\n${b.log().slice(-3000)}`).join("\n")}`;

function waitFor<T>(what: string, probe: () => T | undefined | false): Promise<T> {
  return waitUntil(what, probe, { explain });
}

const finished = buildFinished;

function startBuilder(name: string): void {
  running.set(
    name,
    startBuilderProcess(srv, { name, token: builderToken, store: join(tmp, `store-${name}`), system }),
  );
}

async function stopBuilder(name: string, signal: NodeJS.Signals): Promise<void> {
  const b = running.get(name);
  if (!b) return;
  running.delete(name);
  await b.stop(signal);
}

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-builders-"));
  srv = await startTestServer({ env: { FLOX_LEASE_SECONDS: "3" } });
  assert.is((await srv.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  const t = await srv.api("POST", "/api/v1/tokens", { scope: "builder", name: "builders" });
  assert.is(t.status, 201, JSON.stringify(t.body));
  builderToken = t.body.secret;
  system = await serverSystem(srv.dataDir);
});

test.after(async () => {
  for (const name of [...running.keys()]) await stopBuilder(name, "SIGTERM");
  await srv?.stop();
  if (tmp) await removeTree(tmp);
});

test("the builder API wants a builder token", async () => {
  const body = { builderName: "x", systems: [system], features: [], maxJobs: 1 };
  assert.is((await srv.api("POST", "/api/v1/builder/claim", body, null)).status, 401);
  const r = await srv.api("POST", "/api/v1/builder/claim", body);
  assert.is(r.status, 403);
  assert.match(r.body.error.message, /builder token/);
});

test("two builders build a dependency chain in order; a failure cascades and its log is kept", async () => {
  work = await workRepoFromFixture("dep-chain", tmp);
  await cp(join(fixtureDir("failing-build"), "pkgs"), join(work, "pkgs"), { recursive: true });
  await mkdir(join(work, "pkgs", "needs-fails"), { recursive: true });
  await writeFile(
    join(work, "pkgs", "needs-fails", "default.nix"),
    `{ runCommand, fails }:\n\nrunCommand "needs-fails" { } "ls \${fails}; mkdir $out"\n`,
  );
  await commitAll(work, "chain and a failure");
  const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  await waitFor("the evaluation's builds", () => Object.keys(buildsByAttr()).length === 6);

  startBuilder("b1");
  startBuilder("b2");
  const all = await waitFor("every build to finish", () => {
    const b = buildsByAttr();
    return Object.values(b).every((x) => finished(x.state)) && b;
  });
  const states = Object.fromEntries(Object.entries(all).map(([k, v]) => [k, v.state]));
  assert.equal(states, {
    a: "succeeded",
    b: "succeeded",
    c: "succeeded",
    hello: "succeeded",
    fails: "failed",
    "needs-fails": "dependency-failed",
  });
  // In dependency order: each started only after what it needs had finished.
  const { a, b, c, fails } = all as Record<string, BuildRow>;
  assert.ok((b?.started_at ?? "") >= (c?.finished_at ?? "~"), "b started before c finished");
  assert.ok((a?.started_at ?? "") >= (b?.finished_at ?? "~"), "a started before b finished");
  assert.is(fails?.attempts, 1, "a real build failure is never retried");

  // Every output is in the Storehouse.
  for (const x of [a, b, c]) {
    for (const out of Object.values(JSON.parse(x?.outputs ?? "{}") as Record<string, string>)) {
      const h = out.slice("/nix/store/".length, "/nix/store/".length + 32);
      assert.is((await fetch(`${srv.url}/cache/${h}.narinfo`)).status, 200, out);
    }
  }
  const log = await logText(fails?.id);
  assert.match(log, /compiling fails 1\.0/);
  assert.match(log, /error: the build of fails went wrong on purpose/);
});

test("a builder killed mid-build loses its lease; the other builder finishes the build", async () => {
  await commitPackage(work, "slow", "sleep 5; mkdir $out");
  const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  const slow = await waitFor("the slow build", () => buildsByAttr().slow);
  const holder = await waitFor(
    "a lease on the slow build",
    () =>
      query<{ builder: string }>("select builder from build_leases where build_id = ?", slow.id)[0]?.builder,
  );
  // Let it get into the build proper, then kill the builder without a word to the server.
  await new Promise((r) => setTimeout(r, 1500));
  await stopBuilder(holder, "SIGKILL");
  const done = await waitFor("the slow build to finish", () => {
    const s = buildsByAttr().slow;
    return s && finished(s.state) && s;
  });
  assert.is(done.state, "succeeded");
  assert.is(done.attempts, 2);
  const result = query<{ builder: string }>(
    "select builder from build_results where build_id = ?",
    slow.id,
  )[0];
  assert.ok(
    result && result.builder !== holder,
    `finished by ${result?.builder}, the killed one was ${holder}`,
  );
  const log = await logText(slow.id);
  assert.match(log, /attempt 1 of build/);
  assert.match(log, /attempt 2 of build/);
});

async function freshClient(name: string, key: string, script: string, out: string) {
  return runFreshNix({ dir: join(tmp, name), cacheUrl: `${srv.url}/cache`, key, script, args: [out] });
}

test("a stock Nix client with only our key substitutes an output and runs it; with another key it is refused", async () => {
  const a = buildsByAttr().a;
  const out = (JSON.parse(a?.outputs ?? "{}") as Record<string, string>).out ?? "";
  assert.match(out, /^\/nix\/store\//);
  const key = (await (await fetch(`${srv.url}/cache/public-key`)).text()).trim();
  const r = await freshClient("client", key, 'nix-store -r "$1" >/dev/null && exec "$1/bin/a"', out);
  assert.is(r.exitCode, 0, String(r.stderr));
  assert.is(String(r.stdout), "c\nb\na");

  // Same server, a key that did not sign it: a built (input-addressed) output must not be accepted.
  const other = join(tmp, "other-key");
  await mkdir(other, { recursive: true });
  await execa("nix-store", [
    "--generate-binary-cache-key",
    "someone-else-1",
    join(other, "sk"),
    join(other, "pk"),
  ]);
  const otherKey = (await readFile(join(other, "pk"), "utf8")).trim();
  const refused = await freshClient("client-other", otherKey, 'nix-store -r "$1"', out);
  assert.is.not(refused.exitCode, 0, "a path signed by an untrusted key was accepted");
  assert.match(
    String(refused.stderr),
    /is not signed by any of the keys in 'trusted-public-keys'/,
    String(refused.stderr),
  );
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
