// Profile sync in the agent, end to end: a real server, builder and push make channel packages and profile
// generations; a real machine (machine token, registered, subscribed) runs `flox agent --profiles-dir` with a real
// FUSE mount in a temp dir. The agent reaches the server through a small HTTP proxy in this process that can slow
// NAR bodies down, so a fetch is seen in flight. Needs root and /dev/fuse. Every mount is undone in teardown.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { switchProfile } from "../lib/profile-links.js";
import { type AgentProcess, forceUnmount, sh, startAgent } from "../testing/agent.js";
import { type BuilderProcess, startOneBuilder } from "../testing/builder.js";
import { runFlox, waitForChannelAt } from "../testing/ci-harness.js";
import { removeTree } from "../testing/remove-tree.js";
import { commitAll, ensureCompiledHooks, push, workRepoFromFixture } from "../testing/repos.js";
import { startTestServer, type TestServer } from "../testing/server.js";
import { waitFor } from "../testing/wait-for.js";

const root = mkdtempSync(join(tmpdir(), "flox-agent-sync-test-"));
const mnt = join(root, "mnt");
const cacheDir = join(root, "cache");
const profilesDir = join(root, "profiles");
let srv: TestServer;
let builder: BuilderProcess | undefined;
let agent: AgentProcess | undefined;
let member = "";
let machineToken = "";
let work = "";
let proxy: Server;
let proxyUrl = "";
/** Bytes per second for NAR bodies through the proxy; 0 = as fast as they come. Read per chunk. */
let narRate = 0;
let serverStopped = false;

process.on("exit", () => {
  try {
    execFileSync("fusermount", ["-uz", mnt], { stdio: "ignore" });
  } catch {}
});

const flox = (args: string[], token = member) => runFlox(srv.url, token, root, args);

async function json(args: string[], token = member) {
  const r = await flox([...args, "--json"], token);
  assert.is(r.exitCode, 0, `${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Forwards everything to the server (SSE included, unbuffered); NAR bodies at `narRate` bytes/s when set. */
function startProxy(): Promise<void> {
  proxy = createServer((req, res) => {
    const up = request(
      { host: "127.0.0.1", port: srv.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        res.flushHeaders();
        const slow = req.url?.startsWith("/cache/nar/");
        upRes.on("data", (chunk: Buffer) => {
          res.write(chunk);
          if (slow && narRate > 0) {
            upRes.pause();
            setTimeout(() => upRes.resume(), (chunk.length / narRate) * 1000);
          }
        });
        upRes.on("end", () => res.end());
        upRes.on("error", () => res.destroy());
      },
    );
    up.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on("close", () => up.destroy());
    req.pipe(up);
  });
  return new Promise((ok) =>
    proxy.listen(0, "127.0.0.1", () => {
      const a = proxy.address();
      proxyUrl = `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
      ok();
    }),
  );
}

function agentStatus() {
  if (!agent) throw new Error("no agent running");
  return agent.status();
}

async function runAgent(extra: string[] = []) {
  agent = await startAgent(proxyUrl, { mount: mnt, cacheDir }, [
    "--token",
    machineToken,
    "--profiles-dir",
    profilesDir,
    "--request-timeout",
    "5",
    // Builders store their NARs uncompressed, so a big unpinned path would be read one file at a time by Range
    // (fs-agent/agent.test.ts covers that): this file is about whole paths, pins and their eviction.
    "--file-fetch-from",
    "1G",
    ...extra,
  ]);
  return agent;
}

/** What DIR/acme/dev points at: generation and store path. */
function linked(profile = "acme/dev") {
  const [org = "", name = ""] = profile.split("/");
  try {
    const genLink = readlinkSync(join(profilesDir, org, name));
    const m = /^(.+)-([0-9]+)-link$/.exec(genLink);
    return { generation: Number(m?.[2]), storePath: readlinkSync(join(profilesDir, org, genLink)) };
  } catch {
    return undefined;
  }
}

async function waitLinked(generation: number, storePath: string) {
  await waitFor(
    `acme/dev linked to generation ${generation}`,
    () => {
      const l = linked();
      return l?.generation === generation && l.storePath === storePath;
    },
    { timeoutMs: 30_000, explain: () => agent?.stderr() ?? "" },
  );
}

/** The pins in the agent's index (read-only, beside the running agent). */
function pins(reason: string): string[] {
  const db = new Database(join(cacheDir, "index.sqlite"), { readonly: true, fileMustExist: true });
  try {
    return (
      db.prepare("SELECT basename FROM pins WHERE reason = ? ORDER BY basename").all(reason) as {
        basename: string;
      }[]
    ).map((r) => r.basename);
  } finally {
    db.close();
  }
}

const cached = () => new Set(readdirSync(join(cacheDir, "store")).filter((n) => !n.startsWith(".")));

/** Runs `script` with the mount as /nix/store, in a private mount namespace. */
const inStore = (script: string, timeoutMs = 60_000) =>
  sh(
    `unshare --mount --propagation private sh -c 'mount --bind "$0" /nix/store && ${script}' ${mnt}`,
    timeoutMs,
  );

const channelAt = (evaluation: number) =>
  waitForChannelAt(srv, "acme", evaluation, () => builder?.log() ?? "");

let gen1 = "";
let big = "";

test.before(async () => {
  mkdirSync(mnt);
  await ensureCompiledHooks();
  srv = await startTestServer({ env: { FLOX_SSE_HEARTBEAT_SECONDS: "1" } });
  assert.is((await srv.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  member = (
    await srv.api("POST", "/api/v1/tokens", { scope: "org", org: "acme", role: "member", name: "alice" })
  ).body.secret;
  builder = await startOneBuilder(srv, root);
  work = await workRepoFromFixture("dep-chain", root);
  // A big path (random bytes: no compression helps) to watch in flight, and one touched only by flox download.
  mkdirSync(join(work, "pkgs", "big"));
  writeFileSync(
    join(work, "pkgs", "big", "default.nix"),
    `{ runCommand }:\n\nrunCommand "big" { } ''\n  head -c 24000000 /dev/urandom > $out\n''\n`,
  );
  mkdirSync(join(work, "pkgs", "extra"));
  writeFileSync(
    join(work, "pkgs", "extra", "default.nix"),
    `{ writeShellScriptBin }:\n\nwriteShellScriptBin "extra" ''\n  echo extra runs offline\n''\n`,
  );
  await commitAll(work, "big and extra");
  const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  const evals = await srv.api("GET", "/api/v1/orgs/acme/jobsets/main/evaluations");
  await channelAt(evals.body.evaluations[0].id);
  assert.is((await flox(["profile", "create", "acme/dev"])).exitCode, 0);
  gen1 = (await json(["profile", "install", "acme/dev", "acme#c"])).generation.storePath;
  big = (await json(["channel", "show", "acme"])).channel.packages.big;
  machineToken = (
    await json(["token", "create", "--machine", "--org", "acme", "--name", "m1"], srv.adminToken)
  ).secret;
  assert.is((await flox(["machine", "register", "m1"], machineToken)).exitCode, 0);
  assert.is((await flox(["subscribe", "acme/dev"], machineToken)).exitCode, 0);
  await startProxy();
});

test.after(async () => {
  narRate = 0;
  await agent?.stop();
  await forceUnmount(mnt);
  await builder?.stop();
  if (!serverStopped) await srv?.stop();
  proxy?.closeAllConnections();
  proxy?.close();
  await removeTree(root);
});

test("an install on the server switches DIR/acme/dev; the closure is pinned, the old one unpinned after the grace; GC under pressure keeps it", async () => {
  await runAgent(["--unpin-grace", "2"]);
  await waitLinked(1, gen1);
  const gen1Closure = pins("profile:acme/dev@1");
  assert.ok(gen1Closure.includes(gen1.slice(11)), "the generation itself is pinned");

  const gen2 = (await json(["profile", "install", "acme/dev", "acme#a"])).generation.storePath;
  await waitLinked(2, gen2);
  const closure = pins("profile:acme/dev@2");
  assert.ok(closure.includes(gen2.slice(11)));
  assert.ok(closure.length >= 4, `a, b, c and the environment at least: ${closure}`);
  // Pinned, not fetched: the paths stay lazy until touched.
  assert.not.ok(cached().has(gen2.slice(11)), "pinning fetches nothing");
  const s = await agentStatus();
  assert.equal(
    s.profiles.map((p: { profile: string; generation: number }) => [p.profile, p.generation]),
    [["acme/dev", 2]],
  );
  assert.ok(s.pins.includes("profile:acme/dev@2"));
  // The old generation stays pinned for the grace period (2 s here), then goes.
  await waitFor("generation 1 unpinned", () => pins("profile:acme/dev@1").length === 0, {
    timeoutMs: 10_000,
    explain: () => agent?.stderr() ?? "",
  });
  await waitFor("the unpin in the agent's log", () => /acme\/dev@1: unpinned/.test(agent?.stderr() ?? ""), {
    timeoutMs: 5_000,
  });
  // Generation links kept for a rollback by hand.
  assert.is(readlinkSync(join(profilesDir, "acme", "dev-1-link")), gen1);

  // The program runs through the mount: its closure is fetched (and stays pinned).
  const run = await inStore(`${profilesDir}/acme/dev/bin/a`);
  assert.is(run.exitCode, 0, run.stderr);
  assert.match(run.stdout, /c\nb\na/);
  // An environment is directories and symlinks only: served from its signed listing, never fetched.
  assert.not.ok(cached().has(gen2.slice(11)), "the environment itself needs no fetch");
  // gen1's manifest (a path of its closure), read now, is unpinned: eviction may take it.
  const gen1Manifest = (await inStore(`readlink ${gen1}/manifest.nix`)).stdout.trim().slice(11);
  assert.match(gen1Manifest, /-env-manifest\.nix$/);
  assert.is((await inStore(`cat ${gen1}/manifest.nix > /dev/null`)).exitCode, 0);
  assert.ok(cached().has(gen1Manifest));
  const used = (await agentStatus()).cache.usedBytes as number;
  // What of the pinned closure the run fetched (a path nothing touched, like c here, stays unfetched).
  const fetched = closure.filter((b) => cached().has(b));
  assert.ok(
    fetched.some((b) => b.endsWith("-a")),
    `${fetched}`,
  );

  // Pressure: a quota of what is there plus 4 MB, then the 24 MB path (admitted: the cache may pass its quota
  // by one path), then another path. Each time the unpinned paths go and the pinned closure stays.
  await agent?.stop();
  await runAgent(["--cache-size", String(used + 4_000_000)]);
  await waitLinked(2, gen2);
  const pressured = await inStore(`cat ${big} > /dev/null`);
  assert.is(pressured.exitCode, 0, pressured.stderr);
  let after = cached();
  for (const b of fetched) assert.ok(after.has(b), `${b} (pinned) is still cached`);
  assert.not.ok(after.has(gen1Manifest), "the unpinned manifest of generation 1 was evicted");
  assert.ok(after.has(big.slice(11)));
  const extra = (await json(["channel", "show", "acme"])).channel.packages.extra as string;
  const next = await inStore(`${extra}/bin/extra`);
  assert.is(next.exitCode, 0, next.stderr);
  after = cached();
  assert.not.ok(after.has(big.slice(11)), "the big path (unpinned, least recently used) was evicted");
  for (const b of fetched) assert.ok(after.has(b), `${b} (pinned) is still cached`);
  assert.ok((await agentStatus()).cache.evictions >= 1);
  const again = await inStore(`${profilesDir}/acme/dev/bin/a`);
  assert.is(again.exitCode, 0, again.stderr);
  await agent?.stop();
  await runAgent();
});

test("a reader looping on the profile link during many switches never sees it missing or half-made", async () => {
  const dir = join(root, "switching");
  const path = (n: number) => `/nix/store/${(n % 1000).toString().padStart(32, "a")}-user-environment`;
  await switchProfile(dir, "acme", "dev", 1, path(1));
  const reader = spawn(
    process.execPath,
    [
      "-e",
      `const fs = require("node:fs");
       const dir = process.argv[1];
       let reads = 0, bad = 0, last = "";
       const end = Date.now() + 25000;
       while (Date.now() < end && !fs.existsSync(dir + "/stop")) {
         try {
           const gen = fs.readlinkSync(dir + "/acme/dev");
           const m = /^dev-([0-9]+)-link$/.exec(gen);
           const target = fs.readlinkSync(dir + "/acme/" + gen);
           const want = "/nix/store/" + String(Number(m[1]) % 1000).padStart(32, "a") + "-user-environment";
           if (target !== want) { bad++; last = gen + " -> " + target; }
         } catch (e) { bad++; last = String(e); }
         reads++;
       }
       console.log(JSON.stringify({ reads, bad, last }));`,
      dir,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  reader.stdout?.setEncoding("utf8").on("data", (c: string) => {
    out += c;
  });
  const exited = new Promise<void>((ok) => reader.once("exit", () => ok()));
  let switches = 0;
  const end = Date.now() + 18_000;
  for (let n = 2; Date.now() < end; n++) {
    assert.ok(await switchProfile(dir, "acme", "dev", n, path(n)));
    switches++;
  }
  writeFileSync(join(dir, "stop"), "");
  await exited;
  const r = JSON.parse(out) as { reads: number; bad: number; last: string };
  console.log(`  ${switches} switches in 18 s, ${r.reads} reads by another process, ${r.bad} bad`);
  assert.ok(switches >= 100, `${switches} switches`);
  assert.ok(r.reads > 1000, `${r.reads} reads`);
  assert.is(r.bad, 0, r.last);
});

test("flox agent status --json shows a slow fetch in flight; flox watch prints it when not on a terminal", async () => {
  assert.ok(big, "the channel has the big path");
  narRate = 2_000_000;
  const reading = inStore(`cat ${big} > /dev/null`, 120_000);
  try {
    const status = await waitFor(
      "the big path in flight",
      async () => {
        const r = await flox(["agent", "status", "--cache-dir", cacheDir, "--json"]);
        assert.is(r.exitCode, 0, r.stderr);
        const s = JSON.parse(r.stdout);
        const f = s.cache.inFlight.find((x: { path: string }) => x.path === big);
        return f && f.bytesDone > 0 ? s : undefined;
      },
      { timeoutMs: 20_000, explain: () => agent?.stderr() ?? "" },
    );
    const f = status.cache.inFlight.find((x: { path: string }) => x.path === big);
    assert.ok(f.bytesTotal >= 24_000_000, `total ${f.bytesTotal}`);
    assert.ok(f.bytesDone < f.bytesTotal);
    assert.ok(f.rate > 0);
    assert.ok(status.cache.quotaBytes > 0);
    const human = await flox(["agent", "status", "--cache-dir", cacheDir]);
    assert.match(human.stdout, /fetching big: .* at .*\/s/);
    const watch = await flox(["watch", "--cache-dir", cacheDir, "--count", "3", "--interval", "200"]);
    assert.is(watch.exitCode, 0, watch.stderr);
    assert.match(watch.stdout, /^cache .* paths/m);
    assert.match(watch.stdout, /fetching big: [0-9.]+ [KMG]?i?B of [0-9.]+ MiB/);
    // Slow to the end: 24 MB at 2 MB/s outlasts the agent's request timeout (10 s), which bounds the wait for
    // an answer and between two bytes, never a steady download.
    const done = await reading;
    assert.is(done.exitCode, 0, done.stderr);
  } finally {
    narRate = 0;
  }
  const s = await agentStatus();
  assert.equal(s.cache.inFlight, []);
});

test("a profile no longer followed is unpinned after the grace, told live or at the next connect; following it again pins it", async () => {
  const live = linked();
  assert.ok(live);
  const reason = `profile:acme/dev@${live.generation}`;
  assert.ok(pins(reason).length > 0);
  // While connected: the stream says so at once.
  await agent?.stop();
  await runAgent(["--unpin-grace", "1"]);
  await waitFor("caught up", () => /caught up/.test(agent?.stderr() ?? ""), { timeoutMs: 15_000 });
  assert.is((await flox(["unsubscribe", "acme/dev"], machineToken)).exitCode, 0);
  await waitFor(`${reason} unpinned`, () => pins(reason).length === 0, {
    timeoutMs: 15_000,
    explain: () => agent?.stderr() ?? "",
  });
  assert.match(agent?.stderr() ?? "", /acme\/dev: no longer followed/);
  assert.not.match(agent?.stderr() ?? "", /reconnecting/, "no reconnect was needed");
  assert.equal(linked(), live, "the links stay as they are");
  // While away: at the next connect.
  assert.is((await flox(["subscribe", "acme/dev"], machineToken)).exitCode, 0);
  await waitFor(`${reason} pinned again`, () => pins(reason).length > 0, { timeoutMs: 15_000 });
  await agent?.stop();
  assert.is((await flox(["unsubscribe", "acme/dev"], machineToken)).exitCode, 0);
  await runAgent(["--unpin-grace", "1"]);
  await waitFor(`${reason} unpinned at connect`, () => pins(reason).length === 0, {
    timeoutMs: 15_000,
    explain: () => agent?.stderr() ?? "",
  });
  assert.is((await flox(["subscribe", "acme/dev"], machineToken)).exitCode, 0);
  await agent?.stop();
  await runAgent();
  await waitFor(`${reason} pinned again`, () => pins(reason).length > 0, { timeoutMs: 15_000 });
});

test("flox download fetches the whole closure (pinned) so a later run works with the server stopped", async () => {
  const gen3 = (await json(["profile", "install", "acme/dev", "acme#extra"])).generation.storePath;
  await waitLinked(3, gen3);
  const closure = pins("profile:acme/dev@3");
  assert.ok(
    closure.some((b) => !cached().has(b)),
    "something of the closure is not fetched yet",
  );
  const r = await flox(["download", "acme/dev", "--cache-dir", cacheDir]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /acme\/dev: generation 3 downloaded, ([0-9]+) of \1 paths/);
  const have = cached();
  for (const b of closure) assert.ok(have.has(b), `${b} is cached`);
  assert.equal(pins("download:acme/dev"), closure);
  const unknown = await flox(["download", "acme/nope", "--cache-dir", cacheDir]);
  assert.is(unknown.exitCode, 1);
  assert.match(unknown.stderr, /no live generation/);

  await srv.stop();
  serverStopped = true;
  const run = await inStore(`${profilesDir}/acme/dev/bin/extra`);
  assert.is(run.exitCode, 0, run.stderr);
  assert.match(run.stdout, /extra runs offline/);
  assert.ok(readFileSync(join(cacheDir, "index.sqlite")).length > 0);
});

test.run();
