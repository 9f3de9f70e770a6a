/**
 * Two real `flox server` processes on one PostgreSQL, one repos dir (--repos-dir), one object store and one signing
 * key, as a fleet runs them behind a load balancer (testing/fleet-of-servers.ts). One of them leads (runs the
 * background work); a push to one is evaluated, built through the other and answered on the first (signals cross
 * through LISTEN/NOTIFY); a kill -9 of the leader hands the lead over, and an evaluation a killed server left
 * running is finished by the other.
 */
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { BuilderProcess } from "../../testing/builder.js";
import { type Fleet, startFleet } from "../../testing/fleet-of-servers.js";
import { commitAll, ensureCompiledHooks, push, workRepoFromFixture } from "../../testing/repos.js";
import { startTestServer, TEST_ADMIN_TOKEN, type TestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";

let fleet: Fleet;
let builder: BuilderProcess | undefined;
let work = "";

async function latestEvaluation(s: TestServer): Promise<{ id: number; state: string } | undefined> {
  const r = await s.api("GET", "/api/v1/orgs/acme/jobsets");
  return r.body?.jobsets?.find((j: { branch: string }) => j.branch === "main")?.latest ?? undefined;
}

test.before(async () => {
  await ensureCompiledHooks();
  // Named "fleet": its key is flox-fleet-1, as the last test's messages say.
  fleet = await startFleet("fleet", { store: "file" });
  work = await workRepoFromFixture("good", fleet.tmp);
});

test.after(async () => {
  await fleet?.stop();
});

test("one of two servers leads; a push to A is built through B and A's `-o wait` sees it succeed", async () => {
  const a = await fleet.start();
  const b = await fleet.start();
  await waitFor("a leader", () => fleet.leads(a) || fleet.leads(b), { timeoutMs: 30_000 });
  assert.ok(fleet.leads(a) !== fleet.leads(b), "exactly one server leads");

  const org = await b.api("POST", "/api/v1/orgs", { name: "acme" });
  assert.is(org.status, 201, JSON.stringify(org.body));
  const token = await a.api("POST", "/api/v1/tokens", { scope: "builder", name: "fleet" });
  assert.is(token.status, 201);
  builder = await fleet.startBuilder("b1", token.body.secret, [b]);
  // A's hooks run A's own checks (its run file), though B made the repo last.
  const r = await push(work, a.gitUrl("acme", TEST_ADMIN_TOKEN), ["-o", "wait", "HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, `${r.stderr}\n--- builder\n${builder.log().slice(-2000)}`);
  assert.match(r.remote.join("\n"), /succeeded|passed/i);
  const e = await latestEvaluation(b);
  assert.is(e?.state, "succeeded", JSON.stringify(e));
});

test("kill -9 of the leader: the other server takes the lead and carries on alone", async () => {
  const [a, b] = fleet.servers as [TestServer, TestServer];
  const [leader, other] = fleet.leads(a) ? [a, b] : [b, a];
  await fleet.kill(leader);
  await waitFor("the other server to take the lead", () => fleet.leads(other), {
    timeoutMs: 30_000,
    explain: () => fleet.log(other).slice(-3000),
  });
  await writeFile(join(work, "README.md"), "second\n");
  await commitAll(work, "second push, after the leader died");
  await builder?.stop();
  builder = await fleet.startBuilder(
    "b2",
    (await other.api("POST", "/api/v1/tokens", { scope: "builder", name: "fleet-2" })).body.secret,
    [other],
  );
  const r = await push(work, other.gitUrl("acme", TEST_ADMIN_TOKEN), ["-o", "wait", "HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
});

test("a server killed mid-evaluation: the other server takes the lead, requeues it and finishes it", async () => {
  // The server left from the last test goes too: the slow one (it evaluates after a minute) is then alone when the
  // push comes in, so it is the one that claims the evaluation.
  for (const s of fleet.servers) await fleet.kill(s);
  const slow = await fleet.start({ FLOX_TEST_EVAL_DELAY_MS: "60000" });
  await writeFile(join(work, "README.md"), "third\n");
  await commitAll(work, "third push, to a server that will die");
  // The push waits for the evaluation's summary, which the slow server never gives: its end is not awaited here.
  const pushing = push(work, slow.gitUrl("acme", TEST_ADMIN_TOKEN), ["HEAD:refs/heads/main"]);
  const running = await waitFor(
    "the slow server to start the evaluation",
    async () => {
      const e = await latestEvaluation(slow);
      return e?.state === "running" && e;
    },
    { timeoutMs: 60_000, explain: () => fleet.log(slow).slice(-3000) },
  );
  const other = await fleet.start();
  assert.not.ok(fleet.leads(other), "the slow server leads while it lives");
  await fleet.kill(slow);
  await pushing; // cut off with its server: git reports the connection lost
  const done = await waitFor(
    "the other server to requeue and finish the evaluation",
    async () => {
      const answer = await other.api("GET", `/api/v1/evaluations/${running.id}`);
      const e = answer.body?.evaluation;
      return e && e.state !== "queued" && e.state !== "running" && e;
    },
    { timeoutMs: 120_000, explain: () => fleet.log(other).slice(-3000) },
  );
  assert.is(done.state, "succeeded", JSON.stringify(done));
  assert.ok(fleet.leads(other), "the other server took the lead");
  assert.match(fleet.log(other), /evaluations left running by a server that stopped re-queued/);
});

test("the fleet's one signing key: a server without it is refused; FLOX_SERVER_SECRET keeps it in the database", async () => {
  const common = fleet.args;
  const withoutKey = common.filter(
    (_, i) => common[i] !== "--signing-key" && common[i - 1] !== "--signing-key",
  );
  const publicKey = readFileSync(join(fleet.tmp, "keys", "public-key"), "utf8").trim();
  // Servers of the fleet but for their arguments: fleet.stop() stops them with the others.
  const start = async (args: string[], env: Record<string, string> = {}) => {
    const s = await startTestServer({ args, env });
    fleet.servers.push(s);
    return s;
  };
  const refused = await start(withoutKey).then(
    () => "",
    (err: Error) => err.message,
  );
  assert.match(
    refused,
    /sign with flox-fleet-1:\S+, a key this server does not have; give it the same key file/,
  );

  // Given the key file and the secret once, the key is sealed into the database; then the secret alone is enough.
  const sealing = await start(common, { FLOX_SERVER_SECRET: "fleet secret one" });
  await sealing.stop();
  const opened = await start(withoutKey, { FLOX_SERVER_SECRET: "fleet secret one" });
  const info = await fetch(`${opened.url}/cache/nix-cache-info`);
  assert.is(info.status, 200);
  const summary = await opened.api("GET", "/api/v1/storehouse");
  assert.is(summary.body.storehouse.publicKey, publicKey, "the secret opened the fleet's key");
  assert.not.ok(existsSync(join(opened.dataDir, "keys", "secret-key")), "it never made a key of its own");
  const wrong = await start(withoutKey, { FLOX_SERVER_SECRET: "not the fleet's" }).then(
    () => "",
    (err: Error) => err.message,
  );
  assert.match(wrong, /FLOX_SERVER_SECRET does not open the fleet's signing key \(flox-fleet-1:/);
});

test.run();
