/**
 * Profiles end to end through the real `flox` CLI: generations are real Nix user environments (builtin:buildenv) in
 * the Storehouse that a stock Nix client in a fresh /nix realises and runs; collisions are refused naming both
 * packages; priorities settle them; concurrent installs both land; remove, rollback, upgrade, generations, diff.
 */
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type BuilderProcess, startOneBuilder } from "../../testing/builder.js";
import { latestEvaluationId, runFlox, waitForChannelAt } from "../../testing/ci-harness.js";
import { runFreshNix } from "../../testing/fresh-nix.js";
import { removeTree } from "../../testing/remove-tree.js";
import { commitAll, ensureCompiledHooks, push, workRepoFromFixture } from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";

let srv: TestServer;
let tmp = "";
let work = "";
let builder: BuilderProcess | undefined;
let member = "";

function flox(args: string[]) {
  return runFlox(srv.url, member, tmp, args);
}

async function json(args: string[]) {
  const r = await flox([...args, "--json"]);
  assert.is(r.exitCode, 0, `${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const channelAt = (evaluation: number) =>
  waitForChannelAt(srv, "acme", evaluation, () => builder?.log() ?? "");

async function pushAll(message: string): Promise<number> {
  await commitAll(work, message);
  const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  return latestEvaluationId(srv, "acme");
}

/** Realises `path` with a brand-new machine's Nix (empty /nix, only our key) and runs `program` from it. */
async function realiseAndRun(name: string, path: string, program: string) {
  const key = (await (await fetch(`${srv.url}/cache/public-key`)).text()).trim();
  return runFreshNix({
    dir: join(tmp, name),
    cacheUrl: `${srv.url}/cache`,
    key,
    script: 'nix-store -r "$1" >/dev/null && exec "$1/bin/$2"',
    args: [path, program],
  });
}

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-profiles-"));
  srv = await startTestServer();
  assert.is((await srv.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  const m = await srv.api("POST", "/api/v1/tokens", {
    scope: "org",
    org: "acme",
    role: "member",
    name: "alice-laptop",
  });
  member = m.body.secret;
  builder = await startOneBuilder(srv, tmp);
  work = await workRepoFromFixture("dep-chain", tmp);
  for (const [pkg, text] of [
    ["same-one", "one"],
    ["same-two", "two"],
  ]) {
    await mkdir(join(work, "pkgs", pkg ?? ""), { recursive: true });
    await writeFile(
      join(work, "pkgs", pkg ?? "", "default.nix"),
      `{ writeShellScriptBin }:\n\nwriteShellScriptBin "same" "echo ${text}"\n`,
    );
  }
  await channelAt(await pushAll("chain and two packages with one file"));
});

test.after(async () => {
  await builder?.stop();
  await srv?.stop();
  if (tmp) await removeTree(tmp);
});

test("a generation is a user environment a stock Nix realises and runs", async () => {
  const created = await flox(["profile", "create", "acme/dev", "--reason", "tools for the team"]);
  assert.is(created.exitCode, 0, created.stderr);
  const r = await json(["profile", "install", "acme/dev", "acme#a", "--reason", "we need a"]);
  assert.is(r.generation.number, 1);
  assert.match(r.generation.storePath, /^\/nix\/store\/[0-9a-z]{32}-user-environment$/);
  assert.equal(r.generation.changes.added, ["a"]);
  const hash = r.generation.storePath.slice(11, 43);
  assert.match(
    await (await fetch(`${srv.url}/cache/${hash}.narinfo`)).text(),
    /^Sig: flox-/m,
    "signed in the Storehouse",
  );
  const run = await realiseAndRun("client-1", r.generation.storePath, "a");
  assert.is(run.exitCode, 0, String(run.stderr));
  assert.is(String(run.stdout), "c\nb\na");
});

test("two packages with one file: refused naming both; a priority settles it", async () => {
  assert.is((await flox(["profile", "install", "acme/dev", "acme#same-one"])).exitCode, 0);
  const clash = await flox(["profile", "install", "acme/dev", "acme#same-two"]);
  assert.is(clash.exitCode, 1);
  assert.match(
    `${clash.stderr}\n${(await readFile(join(srv.dataDir, "logs", "server.log"), "utf8")).slice(-4000)}`,
    /same-one and same-two both provide bin\/same|same-two and same-one both provide bin\/same/,
    `${clash.stderr}\n${(await readFile(join(srv.dataDir, "logs", "server.log"), "utf8")).slice(-4000)}`,
  );
  assert.match(clash.stderr, /priority/);
  assert.is((await json(["profile", "show", "acme/dev"])).profile.current, 2, "no generation was made");
  const settled = await json(["profile", "install", "acme/dev", "acme#same-two", "--priority", "4"]);
  assert.is(settled.generation.number, 3);
  const run = await realiseAndRun("client-3", settled.generation.storePath, "same");
  assert.is(String(run.stdout), "two", "the lower priority number wins");
});

test("concurrent installs both land, one generation after the other; remove, rollback, diff", async () => {
  const [x, y] = await Promise.all([
    flox(["profile", "install", "acme/dev", "acme#b"]),
    flox(["profile", "install", "acme/dev", "acme#c"]),
  ]);
  assert.is(x.exitCode, 0, x.stderr);
  assert.is(y.exitCode, 0, y.stderr);
  const now = (await json(["profile", "show", "acme/dev"])).profile;
  assert.is(now.current, 5);
  assert.equal(now.entries.map((e: { label: string }) => e.label).sort(), [
    "a",
    "b",
    "c",
    "same-one",
    "same-two",
  ]);
  assert.is((await json(["profile", "remove", "acme/dev", "b"])).generation.number, 6);
  const back = await json(["profile", "rollback", "acme/dev"]);
  assert.is(back.profile.current, 5);
  const to1 = await json(["profile", "rollback", "acme/dev", "--to", "1", "--reason", "bad day"]);
  assert.is(to1.profile.current, 1);
  const d = await json(["profile", "diff", "acme/dev", "1", "6"]);
  assert.equal([d.added, d.removed, d.changed], [["c", "same-one", "same-two"], [], []]);
  const gens = await json(["profile", "generations", "acme/dev"]);
  assert.is(gens.generations.length, 6);
  const first = gens.generations[0];
  assert.is(first.live, true);
  assert.is(first.madeBy.author, "alice-laptop");
  assert.is(first.madeBy.reason, "we need a");
  assert.match(first.madeBy.command, /^flox profile install acme\/dev acme#a/);
  assert.ok(first.madeBy.host);
  const rollbacks = gens.events.filter((e: { action: string }) => e.action === "rollback");
  assert.equal(
    rollbacks.map((e: { from: number; to: number; reason: string | null }) => [e.from, e.to, e.reason]),
    [
      [6, 5, null],
      [5, 1, "bad day"],
    ],
  );
  const table = await flox(["profile", "generations", "acme/dev"]);
  assert.match(table.stdout, /alice-laptop/);
});

test("upgrade follows the channel; with nothing new it makes no generation", async () => {
  // By hand: the default on-publish schedule would upgrade on its own (schedules.test.ts covers that).
  assert.is((await flox(["profile", "schedule", "acme/dev", "--off"])).exitCode, 0);
  const file = join(work, "pkgs", "a", "default.nix");
  await writeFile(file, (await readFile(file, "utf8")).replace("echo a", "echo a2"));
  await channelAt(await pushAll("a changes"));
  const up = await json(["profile", "upgrade", "acme/dev"]);
  assert.is(up.generation.number, 7);
  assert.equal(up.generation.changes.changed, ["a"]);
  const run = await realiseAndRun("client-7", up.generation.storePath, "a");
  assert.is(String(run.stdout).split("\n").pop(), "a2");
  const again = await flox(["profile", "upgrade", "acme/dev"]);
  assert.is(again.exitCode, 0, again.stderr);
  assert.match(again.stdout, /nothing changed, no new generation/);
});

test.run();
