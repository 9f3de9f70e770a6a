/**
 * Channels end to end: a real push built by a real `flox builder` publishes channel `acme`; a stock Nix client in a
 * fresh /nix (private mount namespace) adds it with `nix-channel`, installs with `nix-env -iA` and runs the program.
 * A failing package holds the channel back; a flox.toml gate lets it move anyway; pin and unpin; ETags answer 304.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  commitAll,
  ensureCompiledHooks,
  fixtureDir,
  push,
  workRepoFromFixture,
} from "../../hooks/test-repos.js";
import {
  type BuilderProcess,
  buildFinished,
  queryDb,
  runFlox,
  startOneBuilder,
  waitFor,
} from "../testing/ci-harness.js";
import { runFreshNix } from "../testing/fresh-nix.js";
import { startTestServer, type TestServer } from "../testing/test-server.js";

let srv: TestServer;
let tmp = "";
let work = "";
let builder: BuilderProcess | undefined;

async function channel(name = "acme") {
  const r = await srv.api("GET", `/api/v1/channels/${name}`);
  assert.is(r.status, 200, JSON.stringify(r.body));
  return r.body.channel as {
    current: { evaluation: number; reason: string } | null;
    pinned: boolean;
    packages: Record<string, string>;
    url: string;
  };
}

const latestEvaluation = () =>
  queryDb<{ id: number }>(srv.dataDir, "select max(id) as id from evaluations")[0]?.id ?? 0;

/** Every build of evaluation `id` has finished. */
const evaluationDone = (id: number) =>
  queryDb<{ state: string }>(
    srv.dataDir,
    "select b.state from eval_jobs j join builds b on b.id = j.build_id where j.evaluation_id = ?",
    id,
  ).every((b) => buildFinished(b.state)) &&
  queryDb<{ state: string }>(srv.dataDir, "select state from evaluations where id = ?", id)[0]?.state ===
    "succeeded";

async function pushWork(message: string) {
  await commitAll(work, message);
  return push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
}

function flox(args: string[]) {
  return runFlox(srv.url, srv.adminToken, tmp, args);
}

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-channels-"));
  srv = await startTestServer();
  assert.is((await srv.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  builder = await startOneBuilder(srv, tmp);
});

test.after(async () => {
  await builder?.stop();
  await srv?.stop();
  if (tmp) {
    await execa("chmod", ["-R", "u+w", tmp], { reject: false });
    await rm(tmp, { recursive: true, force: true });
  }
});

test("a green push publishes the channel; a stock nix-channel + nix-env installs and runs from it", async () => {
  const none = await fetch(`${srv.url}/channels/acme`);
  assert.is(none.status, 404, "no jobset yet");
  work = await workRepoFromFixture("dep-chain", tmp);
  const r = await pushWork("chain");
  assert.is(r.exitCode, 0, r.stderr);
  const first = latestEvaluation();
  const published = await waitFor(
    "the channel to be published",
    async () => (await channel()).current ?? undefined,
    {
      explain: () => builder?.log() ?? "",
    },
  );
  assert.is(published.evaluation, first);
  assert.is(published.reason, "advanced");
  const c = await channel();
  const outputs = queryDb<{ attr: string; outputs: string }>(
    srv.dataDir,
    "select attr, outputs from eval_jobs where evaluation_id = ?",
    first,
  );
  assert.equal(
    c.packages,
    Object.fromEntries(outputs.map((o) => [o.attr, JSON.parse(o.outputs).out])),
    "the channel publishes exactly what the builders built",
  );

  const first2xx = await fetch(c.url);
  assert.is(first2xx.status, 200);
  assert.match(await first2xx.text(), new RegExp(`evaluation #${first}`));
  const tarball = await fetch(`${c.url}/nixexprs.tar.xz`);
  assert.is(tarball.status, 200);
  const etag = tarball.headers.get("etag") ?? "";
  assert.match(etag, /^"[A-Za-z0-9_-]{43}"$/);
  await writeFile(join(tmp, "nixexprs.tar.xz"), Buffer.from(await tarball.arrayBuffer()));
  const listing = (await execa("tar", ["-tJf", join(tmp, "nixexprs.tar.xz")])).stdout.split("\n");
  const tops = new Set(listing.map((l) => l.split("/")[0]));
  assert.is(tops.size, 1, `one top-level directory: ${listing.join(", ")}`);
  assert.ok(listing.some((l) => /^[^/]+\/default\.nix$/.test(l)));
  const again = await fetch(`${c.url}/nixexprs.tar.xz`, { headers: { "if-none-match": etag } });
  assert.is(again.status, 304, "tarball-ttl revalidation gets 304");
  assert.is((await fetch(`${c.url}/nixexprs.tar.bz2`)).status, 200);

  // A brand-new machine: empty /nix, only our key trusted.
  const key = (await (await fetch(`${srv.url}/cache/public-key`)).text()).trim();
  const script = [
    `nix-channel --add ${c.url} acme`,
    "nix-channel --update",
    "nix-env -iA acme.a",
    'exec "$HOME/.nix-profile/bin/a"',
  ].join(" && ");
  const run = await runFreshNix({ dir: join(tmp, "client"), cacheUrl: `${srv.url}/cache`, key, script });
  assert.is(run.exitCode, 0, `${run.stdout}\n${run.stderr}`);
  assert.is(String(run.stdout).trim().split("\n").slice(-3).join("\n"), "c\nb\na");
});

test("a failing package holds the channel; a flox.toml gate moves it; pin and unpin", async () => {
  const before = (await channel()).current?.evaluation;
  await mkdir(join(work, "pkgs", "fails"), { recursive: true });
  await execa("cp", [
    join(fixtureDir("failing-build"), "pkgs", "fails", "default.nix"),
    join(work, "pkgs", "fails"),
  ]);
  assert.is((await pushWork("a failure")).exitCode, 0);
  const red = latestEvaluation();
  await waitFor("the red evaluation's builds", () => evaluationDone(red));
  await new Promise((r) => setTimeout(r, 2500)); // a full pass of the publisher
  assert.is((await channel()).current?.evaluation, before, "a red evaluation is not published");

  // A gate naming a package the repo does not have is refused at the door.
  await writeFile(join(work, "flox.toml"), '[channel]\ngate = ["a", "nope"]\n');
  const refused = await pushWork("bad gate");
  assert.is.not(refused.exitCode, 0);
  assert.match(
    refused.stderr,
    /flox\.toml:2: channel\.gate names "nope", which is not a package of this repo/,
  );
  await writeFile(join(work, "flox.toml"), '[channel]\ngate = ["a"]\n');
  assert.is((await pushWork("gate on a")).exitCode, 0);
  const gated = latestEvaluation();
  const moved = await waitFor("the gated channel to move", async () => {
    const cur = (await channel()).current;
    return cur?.evaluation === gated && cur;
  });
  assert.is(moved.reason, "advanced");
  assert.not.ok("fails" in (await channel()).packages, "a failed package is not published");

  const pin = await flox(["channel", "pin", "acme", "--eval", String(before)]);
  assert.is(pin.exitCode, 0, pin.stderr);
  assert.match(pin.stdout, new RegExp(`evaluation #${before} .*\\(pinned\\)`));
  await writeFile(join(work, "pkgs", "c", "extra.txt"), "a change\n");
  assert.is((await pushWork("another green one")).exitCode, 0);
  const newest = latestEvaluation();
  await waitFor("the newest evaluation's builds", () => evaluationDone(newest));
  await new Promise((r) => setTimeout(r, 2500));
  assert.is((await channel()).current?.evaluation, before, "a pinned channel stays");
  const unpin = await flox(["channel", "unpin", "acme"]);
  assert.is(unpin.exitCode, 0, unpin.stderr);
  await waitFor(
    "the unpinned channel to follow CI",
    async () => (await channel()).current?.evaluation === newest,
  );

  const history = await flox(["channel", "history", "acme", "--json"]);
  assert.is(history.exitCode, 0, history.stderr);
  assert.equal(
    JSON.parse(history.stdout).history.map((p: { evaluation: number; reason: string }) => [
      p.evaluation,
      p.reason,
    ]),
    [
      [before, "advanced"],
      [gated, "advanced"],
      [before, "pinned"],
      [newest, "advanced"],
    ],
  );
  const shown = await flox(["channel", "show", "acme"]);
  assert.is(shown.exitCode, 0, shown.stderr);
  assert.match(shown.stdout, new RegExp(`channel acme: evaluation #${newest}`));
  assert.match(shown.stdout, /nix-channel --add http:\/\/127\.0\.0\.1:\d+\/channels\/acme acme/);
  const list = await flox(["channels"]);
  assert.match(list.stdout, new RegExp(`acme\\s+evaluation #${newest}`));
  const notBuilt = await flox(["channel", "pin", "acme", "--eval", String(red)]);
  assert.is(notBuilt.exitCode, 1);
  assert.match(notBuilt.stderr, /cannot be published/);
});

test.run();
