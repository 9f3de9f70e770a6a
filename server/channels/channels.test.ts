/**
 * Channels end to end: a real push built by a real `flox builder` publishes channel `acme`; a stock Nix client in a
 * fresh /nix (private mount namespace) adds it with `nix-channel`, installs with `nix-env -iA` and runs the program.
 * A failing package holds the channel back; a flox.toml gate lets it move anyway; pin and unpin; ETags answer 304.
 * A private org's channel needs a token that may read the org: stock nix-channel sends it from a netrc-file.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { BuilderProcess } from "../../testing/builder.js";
import { buildFinished, queryDb, runFlox } from "../../testing/ci-harness.js";
import { type CiWorld, startCiWorld } from "../../testing/ci-world.js";
import { runFreshNix } from "../../testing/fresh-nix.js";
import { commitAll, fixtureDir, push, workRepoFromFixture } from "../../testing/repos.js";
import type { TestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";

let srv: TestServer;
let tmp = "";
let work = "";
let builder: BuilderProcess | undefined;
let world: CiWorld | undefined;

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
  // Public: anyone may read its channel, as a stock client without any token does below.
  world = await startCiWorld({ prefix: "flox-channels-", orgs: [{ name: "acme", public: true }] });
  ({ srv, tmp, builder } = world);
});

test.after(async () => {
  await world?.stop();
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

test("a private org's channel needs a token that may read it; stock nix-channel sends one from a netrc-file", async () => {
  assert.is((await srv.api("POST", "/api/v1/orgs", { name: "secret" })).status, 201);
  const token = async (org: string) =>
    (await srv.api("POST", "/api/v1/tokens", { scope: "org", org, role: "reader" })).body.secret as string;
  const reader = await token("secret");
  const outsider = await token("acme");
  const secretWork = await workRepoFromFixture("dep-chain", join(tmp, "secret-work"));
  await commitAll(secretWork, "chain");
  const pushed = await push(secretWork, srv.gitUrl("secret", srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(pushed.exitCode, 0, pushed.stderr);
  await waitFor(
    "secret's channel to be published",
    async () => (await channel("secret")).current ?? undefined,
    {
      explain: () => builder?.log() ?? "",
    },
  );
  const url = `${srv.url}/channels/secret`;
  const get = (path: string, secret?: string) =>
    fetch(`${srv.url}${path}`, secret ? { headers: { authorization: `Bearer ${secret}` } } : {});

  // Nobody: a 401 with a Basic challenge, the same for a private org as for one that does not exist.
  for (const path of ["/channels/secret", "/channels/secret/nixexprs.tar.xz", "/channels/ghost"]) {
    const r = await get(path);
    assert.is(r.status, 401, path);
    assert.is(r.headers.get("www-authenticate"), 'Basic realm="flox channels"', path);
    assert.match(await r.text(), /netrc/);
  }
  // Another org's token: the 404 of a channel that does not exist, but for the name.
  const hidden = await get("/channels/secret/nixexprs.tar.xz", outsider);
  const ghost = await get("/channels/ghost/nixexprs.tar.xz", outsider);
  assert.is(hidden.status, 404);
  assert.is(ghost.status, 404);
  assert.is((await hidden.text()).replace("secret", "ghost"), await ghost.text());
  // A reader of secret, as Bearer or as the Basic password (any user name).
  assert.is((await get("/channels/secret/nixexprs.tar.xz", reader)).status, 200);
  const basic = Buffer.from(`anyone:${reader}`).toString("base64");
  assert.is((await fetch(url, { headers: { authorization: `Basic ${basic}` } })).status, 200);

  // A stock Nix client: with the reader token in its netrc-file it adds, updates and installs; without, it fails.
  const key = (await (await fetch(`${srv.url}/cache/public-key`)).text()).trim();
  const netrc = join(tmp, "secret-netrc");
  await writeFile(netrc, `machine ${new URL(srv.url).hostname} login x password ${reader}\n`);
  const script = [
    `nix-channel --add ${url} secret`,
    "nix-channel --update",
    "nix-env -iA secret.a",
    'exec "$HOME/.nix-profile/bin/a"',
  ].join(" && ");
  const cacheUrl = `${srv.url}/cache`;
  const withNetrc = await runFreshNix({
    dir: join(tmp, "client-netrc"),
    cacheUrl,
    key,
    script,
    extraConf: `netrc-file = ${netrc}\n`,
  });
  assert.is(withNetrc.exitCode, 0, `${withNetrc.stdout}\n${withNetrc.stderr}`);
  assert.is(String(withNetrc.stdout).trim().split("\n").slice(-3).join("\n"), "c\nb\na");
  const without = await runFreshNix({ dir: join(tmp, "client-anon"), cacheUrl, key, script });
  assert.is.not(without.exitCode, 0, `${without.stdout}\n${without.stderr}`);
  assert.match(String(without.stderr), /401/);

  // Visibility is the owner's switch: acme made private is closed to anonymous readers, and open again after.
  assert.is((await get("/channels/acme")).status, 200);
  const closed = await flox(["org", "set", "acme", "--private"]);
  assert.is(closed.exitCode, 0, closed.stderr);
  assert.match(closed.stdout, /acme is private/);
  assert.is((await get("/channels/acme")).status, 401);
  assert.is((await flox(["org", "set", "acme", "--public"])).exitCode, 0);
  assert.is((await get("/channels/acme")).status, 200);
  const neither = await flox(["org", "set", "acme"]);
  assert.is(neither.exitCode, 2);
  assert.match(neither.stderr, /--public or --private/);
});

test.run();
