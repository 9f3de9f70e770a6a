/**
 * Machines end to end: a real server, builder and push make channel packages; profiles get generations; machines
 * register with machine tokens, subscribe, and real `flox sync` processes switch real symlinks from the server's
 * event stream (SSE) and report back. Offline machines catch up, rollbacks arrive, a channel advance reaches a
 * machine through the on-publish upgrade, resume by Last-Event-ID sends exactly what was missed, and a machine
 * may follow only its own org.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { projectRoot } from "../../lib/project-root.js";
import { readSse, type SseItem } from "../../lib/sse.js";
import { type BuilderProcess, startOneBuilder } from "../../testing/builder.js";
import { latestEvaluationId, queryDb, runFlox, waitForChannelAt } from "../../testing/ci-harness.js";
import { removeTree } from "../../testing/remove-tree.js";
import { commitAll, ensureCompiledHooks, push, workRepoFromFixture } from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";

let srv: TestServer;
let tmp = "";
let work = "";
let builder: BuilderProcess | undefined;
let member = "";
const machineTokens: Record<string, string> = {};
const tok = (name: string) => machineTokens[name] ?? "";
const syncs: SyncProcess[] = [];

const floxBin = join(projectRoot, "cli", "bin", "flox");

const flox = (args: string[], token = member) => runFlox(srv.url, token, tmp, args);

async function json(args: string[], token = member) {
  const r = await flox([...args, "--json"], token);
  assert.is(r.exitCode, 0, `${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

interface SyncProcess {
  child: ChildProcess;
  dir: string;
  log(): string;
  stop(): Promise<void>;
}

/** A real `flox sync` of machine `name` into `dir`. */
function startSync(name: string, dir: string): SyncProcess {
  const child = spawn(process.execPath, [floxBin, "sync", "--profiles-dir", dir], {
    env: {
      ...process.env,
      FLOX_SERVER: srv.url,
      FLOX_TOKEN: tok(name),
      NO_COLOR: "1",
      XDG_CONFIG_HOME: tmp,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout?.setEncoding("utf8").on("data", (c: string) => {
    log += c;
  });
  child.stderr?.setEncoding("utf8").on("data", (c: string) => {
    log += c;
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const p: SyncProcess = {
    child,
    dir,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(force);
    },
  };
  syncs.push(p);
  return p;
}

/** What DIR/org/name points at: the generation (through NAME-N-link) and its store path. */
async function linked(dir: string, profile = "acme/dev") {
  const [org = "", name = ""] = profile.split("/");
  try {
    const genLink = await readlink(join(dir, org, name));
    const m = /^(.+)-([0-9]+)-link$/.exec(genLink);
    return { generation: Number(m?.[2]), storePath: await readlink(join(dir, org, genLink)) };
  } catch {
    return undefined;
  }
}

async function waitLinked(sync: SyncProcess, generation: number, storePath: string, profile = "acme/dev") {
  await waitFor(
    `${profile} linked to generation ${generation} in ${sync.dir}`,
    async () => {
      const l = await linked(sync.dir, profile);
      return l?.generation === generation && l.storePath === storePath;
    },
    { timeoutMs: 30_000, explain: () => sync.log() },
  );
}

async function status(profile = "acme/dev") {
  return (await json(["profile", "status", profile])).status;
}

/** Waits until machine `name` reported `generation` for the profile (ok, or `state`). */
async function waitReported(name: string, generation: number, state: "ok" | "failed" = "ok") {
  return waitFor(
    `${name} reporting generation ${generation} ${state}`,
    async () => {
      const s = await status();
      const m = s.machines.find((x: { machine: string }) => x.machine === name);
      return m?.generation === generation && m.status === state ? s : undefined;
    },
    { timeoutMs: 30_000 },
  );
}

const channelAt = (evaluation: number) =>
  waitForChannelAt(srv, "acme", evaluation, () => builder?.log() ?? "");

async function pushAll(message: string): Promise<number> {
  await commitAll(work, message);
  const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  return latestEvaluationId(srv, "acme");
}

/** Opens the raw event stream and collects what arrives until `until` says stop (or `ms` pass). */
async function rawStream(
  token: string,
  opts: { lastEventId?: string; since?: string; until: (items: SseItem[]) => boolean; ms?: number },
) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), opts.ms ?? 15_000);
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (opts.lastEventId !== undefined) headers["last-event-id"] = opts.lastEventId;
  const q = opts.since === undefined ? "" : `?since=${opts.since}`;
  const res = await fetch(`${srv.url}/api/v1/machines/me/events${q}`, { headers, signal: ctl.signal });
  const items: SseItem[] = [];
  let ended = "open";
  try {
    assert.is(res.status, 200, await (res.status === 200 ? "" : res.text()));
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    for await (const item of readSse(res.body as ReadableStream<Uint8Array>)) {
      items.push(item);
      if (opts.until(items)) break;
    }
    ended = "closed by the server";
  } catch (err) {
    if (!ctl.signal.aborted) throw err;
    ended = "timed out";
  } finally {
    clearTimeout(timer);
    ctl.abort();
  }
  const events = items.flatMap((i) => (i.type === "event" ? [i] : []));
  return { items, events, ended, data: events.map((e) => JSON.parse(e.data)) };
}

const readyIn = (items: SseItem[]) => items.some((i) => i.type === "event" && i.event === "ready");

let gen1 = "";

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-machines-"));
  srv = await startTestServer({ env: { FLOX_SSE_HEARTBEAT_SECONDS: "1" } });
  for (const org of ["acme", "other"]) {
    assert.is((await srv.api("POST", "/api/v1/orgs", { name: org })).status, 201);
  }
  member = (
    await srv.api("POST", "/api/v1/tokens", { scope: "org", org: "acme", role: "member", name: "alice" })
  ).body.secret;
  builder = await startOneBuilder(srv, tmp);
  work = await workRepoFromFixture("dep-chain", tmp);
  await channelAt(await pushAll("a chain of three"));
  assert.is((await flox(["profile", "create", "acme/dev"])).exitCode, 0);
  assert.is((await flox(["profile", "create", "acme/ops"])).exitCode, 0);
  assert.is((await flox(["profile", "create", "other/dev"], srv.adminToken)).exitCode, 0);
  gen1 = (await json(["profile", "install", "acme/dev", "acme#c"])).generation.storePath;
  // Machine tokens: an org owner (here the admin) makes one per machine, for one org.
  for (const [name, org] of [
    ["m1", "acme"],
    ["m2", "acme"],
    ["m3", "acme"],
    ["x1", "other"],
  ] as const) {
    const t = await json(["token", "create", "--machine", "--org", org, "--name", name], srv.adminToken);
    assert.is(t.token.scope, "machine");
    assert.is(t.token.org, org);
    machineTokens[name] = t.secret;
  }
});

test.after(async () => {
  for (const s of syncs) await s.stop();
  await builder?.stop();
  await srv?.stop();
  if (tmp) await removeTree(tmp);
});

test("register, subscribe, install: flox sync switches the link and the report shows in flox profile status", async () => {
  const reg = await json(["machine", "register", "m1"], tok("m1"));
  assert.equal([reg.machine.name, reg.machine.org], ["m1", "acme"]);
  assert.is((await flox(["machine", "register", "m1"], tok("m1"))).exitCode, 0, "registering again: no-op");
  const taken = await flox(["machine", "register", "m1"], tok("m2"));
  assert.is(taken.exitCode, 1);
  assert.match(taken.stderr, /has a machine named "m1" already/);
  const sub = await json(["subscribe", "acme/dev"], tok("m1"));
  assert.equal(
    sub.machine.subscriptions.map((s: { name: string }) => s.name),
    ["acme/dev"],
  );

  const m1 = startSync("m1", join(tmp, "m1"));
  await waitLinked(m1, 1, gen1);
  await waitReported("m1", 1);

  const gen2 = (await json(["profile", "install", "acme/dev", "acme#b"])).generation.storePath;
  await waitLinked(m1, 2, gen2);
  const s = await waitReported("m1", 2);
  assert.is(s.live, 2);
  assert.equal(s.counts, [{ generation: 2, machines: 1 }]);
  assert.equal(s.summary, { machines: 1, onLive: 1, lagging: 0, failed: 0 });
  assert.is(s.machines[0].connected, true);
  assert.is(
    await readlink(join(tmp, "m1", "acme", "dev-1-link")),
    gen1,
    "older generation links stay, as in Nix",
  );
  const table = await flox(["profile", "status", "acme/dev"]);
  assert.match(table.stdout, /generation 2 is live/);
  assert.match(table.stdout, /1 machine: 1 on the live generation, 0 lagging, 0 failed/);
  assert.match(table.stdout, /m1\s+2\s+live/);
  const list = await json(["machines"]);
  assert.equal(
    list.machines.map((m: { name: string; profiles: { profile: string; running: number }[] }) => [
      m.name,
      m.profiles.map((p) => `${p.profile}@${p.running}`),
    ]),
    [["m1", ["acme/dev@2"]]],
  );
  assert.match(m1.log(), /acme\/dev: generation 2 is live/);
});

test("a machine may follow only its own org; other tokens are no machines; a revoked token ends the stream", async () => {
  const no = await flox(["subscribe", "other/dev"], tok("m1"));
  assert.is(no.exitCode, 1);
  assert.match(
    no.stderr,
    /belongs to org acme and may follow only its profiles and channels, not profile other\/dev/,
  );
  assert.is((await flox(["subscribe", "--channel", "other"], tok("m1"))).exitCode, 1);
  const ghost = await srv.api(
    "POST",
    "/api/v1/machines/me/subscriptions",
    { profile: "nope/dev" },
    tok("m1"),
  );
  assert.is(ghost.status, 403, "an unknown org answers like a foreign one");
  assert.is((await json(["machine", "register", "x1"], tok("x1"))).machine.org, "other");
  assert.is((await flox(["subscribe", "acme/dev"], tok("x1"))).exitCode, 1);
  const x1 = await srv.api("POST", "/api/v1/machines/me/subscriptions", { profile: "acme/dev" }, tok("x1"));
  assert.is(x1.status, 403);
  const person = await srv.api("POST", "/api/v1/machines/me/subscriptions", { profile: "acme/dev" }, member);
  assert.is(person.status, 403, "a member token is not a machine");
  const unregistered = await srv.api("GET", "/api/v1/machines/me/events", undefined, tok("m3"));
  assert.is(unregistered.status, 404);
  assert.match(unregistered.body.error.message, /flox machine register NAME/);
  // Only owners and admins make machine tokens, and only for their own org; a machine token needs its org.
  assert.is((await srv.api("POST", "/api/v1/tokens", { scope: "machine", org: "acme" }, member)).status, 403);
  assert.is((await srv.api("POST", "/api/v1/tokens", { scope: "machine", name: "loose" })).status, 400);
  // A machine sees only itself in the machine list; people of another org do not see acme's machines.
  assert.equal(
    (await json(["machines"], tok("x1"))).machines.map((m: { name: string }) => m.name),
    ["x1"],
  );
  const otherReader = (
    await srv.api("POST", "/api/v1/tokens", { scope: "org", org: "other", role: "reader" })
  ).body.secret;
  assert.equal(
    (await json(["machines"], otherReader)).machines.map((m: { name: string }) => m.name),
    ["x1"],
  );
  // No role in acme: the same 404 as for an org that does not exist.
  assert.is((await srv.api("GET", "/api/v1/profiles/acme/dev/status", undefined, otherReader)).status, 404);

  // x1 follows its own profile; revoking its token ends its open stream at the next heartbeat (1 s here).
  assert.is((await flox(["subscribe", "other/dev"], tok("x1"))).exitCode, 0);
  const id = (await json(["whoami"], tok("x1"))).token.id;
  const started = Date.now();
  const stream = rawStream(tok("x1"), { until: () => false, ms: 10_000 });
  await new Promise((r) => setTimeout(r, 500));
  assert.is((await srv.api("DELETE", `/api/v1/tokens/${id}`)).status, 204);
  const r = await stream;
  assert.is(r.ended, "closed by the server");
  assert.ok(Date.now() - started < 5000, `the stream ended after ${Date.now() - started} ms`);
});

test("resume by Last-Event-ID (or ?since=) sends exactly the missed events, then snapshots, then ready", async () => {
  assert.is((await json(["machine", "register", "m2"], tok("m2"))).machine.name, "m2");
  assert.is((await flox(["subscribe", "acme/dev"], tok("m2"))).exitCode, 0);
  const first = await rawStream(tok("m2"), { until: readyIn });
  const ready = first.events.at(-1);
  assert.is(ready?.event, "ready");
  const last = JSON.parse(ready?.data ?? "{}").last as number;
  assert.ok(last > 0);
  // The snapshot: the live generation, without an SSE id (Last-Event-ID stays where the feed is).
  const snap = first.data.find((d) => d.snapshot);
  assert.equal([snap.profile, snap.generation, snap.action], ["acme/dev", 2, "current"]);
  assert.is(first.events.find((e) => e.event === "profile" && JSON.parse(e.data).snapshot)?.hasId, false);

  // While m2 is away: two generations of acme/dev, and one of acme/ops, which m2 does not follow.
  const gen3 = (await json(["profile", "install", "acme/dev", "acme#a"])).generation;
  await json(["profile", "install", "acme/ops", "acme#c"]);
  const gen4 = (await json(["profile", "remove", "acme/dev", "a"])).generation;
  const devId = queryDb<{ id: number }>(
    srv.dataDir,
    "select p.id from profiles p join orgs o on o.id = p.org_id where o.name = 'acme' and p.name = 'dev'",
  )[0]?.id;
  const missed = queryDb<{ id: number; generation: number }>(
    srv.dataDir,
    "select id, generation from change_events where id > ? and profile_id = ? order by id",
    last,
    devId,
  );
  assert.equal(
    missed.map((m) => m.generation),
    [3, 4],
  );
  for (const resume of [{ lastEventId: String(last) }, { since: String(last) }]) {
    const again = await rawStream(tok("m2"), { ...resume, until: readyIn });
    const replayed = again.events.filter((e) => e.hasId);
    assert.equal(
      replayed.map((e) => Number(e.lastEventId)),
      missed.map((m) => m.id),
      "exactly the missed events of what m2 follows, with their ids",
    );
    assert.equal(
      replayed.map((e) => {
        const d = JSON.parse(e.data);
        return [e.event, d.id, d.generation, d.storePath, d.action, d.from];
      }),
      [
        ["profile", missed[0]?.id, 3, gen3.storePath, "install", 2],
        ["profile", missed[1]?.id, 4, gen4.storePath, "remove", 3],
      ],
    );
    const snaps = again.data.filter((d) => d.snapshot);
    assert.equal(
      snaps.map((d) => [d.profile, d.generation]),
      [["acme/dev", 4]],
    );
    assert.equal(JSON.parse(again.events.at(-1)?.data ?? "{}"), { last: missed[1]?.id });
  }
  // Heartbeats are SSE comments (every 15 s; 1 s in this test's server).
  const beats = await rawStream(tok("m2"), {
    until: (items) => items.filter((i) => i.type === "comment").length >= 2,
  });
  assert.is(beats.ended, "closed by the server");
  assert.ok(beats.items.some((i) => i.type === "comment" && i.text === "ping"));
  // A resume point that is no event id is refused.
  assert.is((await srv.api("GET", "/api/v1/machines/me/events?since=abc", undefined, tok("m2"))).status, 400);
});

test("a machine offline during two generations catches up to the latest on restart (the one between is skipped)", async () => {
  const m1 = syncs[0];
  assert.ok(m1);
  await waitLinked(m1, 4, (await json(["profile", "show", "acme/dev"])).profile.storePath);
  await m1.stop();
  const gen5 = (await json(["profile", "install", "acme/dev", "acme#b"])).generation;
  const gen6 = (await json(["profile", "install", "acme/dev", "acme#a"])).generation;
  assert.equal([gen5.number, gen6.number], [5, 6]);
  assert.is((await linked(m1.dir))?.generation, 4, "nothing moves while the machine is away");
  const lagging = await status();
  const row = lagging.machines.find((m: { machine: string }) => m.machine === "m1");
  assert.equal([row.running, row.lagging, row.connected], [4, true, false]);
  assert.ok(lagging.summary.lagging >= 1);

  const back = startSync("m1", m1.dir);
  await waitLinked(back, 6, gen6.storePath);
  await waitReported("m1", 6);
  // It resumed after the last event it had seen (kept in DIR/.flox-sync.json) and went straight to 6.
  assert.match(back.log(), /resuming after event [0-9]+/);
  assert.match(back.log(), /acme\/dev: generation 6 is live/);
  assert.not.match(back.log(), /generation 5/);
  assert.not.ok(await readlink(join(m1.dir, "acme", "dev-5-link")).catch(() => undefined));
  const state = JSON.parse(await readFile(join(m1.dir, ".flox-sync.json"), "utf8"));
  assert.ok(state.lastEventId > 0);
});

test("a rollback reaches the machines; a machine that cannot switch reports failed", async () => {
  // m2's profiles dir has a real directory where the link goes: the switch fails there, and is reported.
  const m2dir = join(tmp, "m2");
  await mkdir(join(m2dir, "acme", "dev"), { recursive: true });
  await writeFile(join(m2dir, "acme", "dev", "keep"), "not a link\n");
  const m2 = startSync("m2", m2dir);
  const failed = await waitReported("m2", 6, "failed");
  const row = failed.machines.find((m: { machine: string }) => m.machine === "m2");
  assert.match(row.message, /EISDIR|directory/i);
  assert.is(row.running, null);
  assert.is(failed.summary.failed, 1);
  assert.match((await flox(["profile", "status", "acme/dev"])).stdout, /m2\s+-\s+failed \(gen 6\)/);

  const back = await json(["profile", "rollback", "acme/dev", "--to", "2"]);
  assert.is(back.profile.current, 2);
  const m1 = syncs.find((s) => s.dir === join(tmp, "m1") && s.child.exitCode === null);
  assert.ok(m1);
  await waitLinked(m1, 2, back.profile.storePath);
  const s = await waitReported("m1", 2);
  assert.is(s.live, 2);
  await waitReported("m2", 2, "failed");
  assert.match(m2.log(), /switching to generation 2 failed/);

  // Fixed by hand: the next connect's snapshot brings m2 onto the live generation.
  await m2.stop();
  await rm(join(m2dir, "acme", "dev"), { recursive: true });
  const m2again = startSync("m2", m2dir);
  await waitLinked(m2again, 2, back.profile.storePath);
  const fixed = await waitReported("m2", 2);
  assert.equal(fixed.counts, [{ generation: 2, machines: 2 }]);
  assert.equal(fixed.summary, { machines: 2, onLive: 2, lagging: 0, failed: 0 });
});

test("a channel advance reaches a machine as a channel event and, through the on-publish upgrade, as a generation", async () => {
  const live = (await json(["profile", "show", "acme/dev"])).profile;
  // Back on a generation that follows acme#c, so that a new c moves it.
  assert.ok(live.entries.some((e: { source: string }) => e.source === "acme#c"));
  assert.is((await flox(["subscribe", "--channel", "acme"], tok("m1"))).exitCode, 0);
  const m1 = syncs.find((s) => s.dir === join(tmp, "m1") && s.child.exitCode === null);
  assert.ok(m1);
  await waitFor("m1 hearing the channel's snapshot", () => /channel acme: evaluation/.test(m1.log()), {
    timeoutMs: 10_000,
  });
  const file = join(work, "pkgs", "c", "default.nix");
  await writeFile(file, (await readFile(file, "utf8")).replace('text = "c\\n"', 'text = "c2\\n"'));
  const evaluation = await pushAll("c changes");
  await channelAt(evaluation);
  await waitFor(
    `m1 hearing that channel acme moved to evaluation ${evaluation}`,
    () => new RegExp(`channel acme: evaluation ${evaluation} \\([0-9a-f]{7}, advanced\\)`).test(m1.log()),
    { timeoutMs: 30_000, explain: () => m1.log() },
  );
  const upgraded = await waitFor(
    "the on-publish upgrade of acme/dev",
    async () => {
      const p = (await json(["profile", "show", "acme/dev"])).profile;
      return p.current > 6 ? p : undefined;
    },
    { timeoutMs: 60_000 },
  );
  await waitLinked(m1, upgraded.current, upgraded.storePath);
  await waitReported("m1", upgraded.current);
});

test.run();
