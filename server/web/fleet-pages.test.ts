/**
 * The fleet pages against a real server, builder, pushes and machines (reports through the machine API): the
 * channel page's subscribe lines and history after a push advances it; every page's JSON twin equals the API;
 * the rollback button (a member's session rolls back, the page and the API agree); a reader sees no button and
 * forged POSTs are refused; another org's viewer finds nothing; user input is escaped.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type FleetWorld, HOSTILE, startFleetWorld } from "../../testing/fleet-world.js";
import { push, workRepoFromFixture } from "../../testing/repos.js";
import { startTestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";

let w: FleetWorld;
const tok = (name: string) => w.tok(name);
const api = (path: string, t: string) => w.api(path, t);

/** A page as a browser would get it, with a Bearer token (no session). */
async function page(path: string, t: string, accept = "text/html") {
  const res = await fetch(`${w.srv.url}${path}`, { headers: { authorization: `Bearer ${t}`, accept } });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

interface Session {
  cookie: string;
}

/** Logs in through the form, as a browser does; returns the session cookie. */
async function login(t: string): Promise<Session> {
  const res = await fetch(`${w.srv.url}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: w.srv.url },
    body: new URLSearchParams({ token: t, next: "/" }).toString(),
  });
  assert.is(res.status, 303, await res.text());
  const cookie = /flox_session=([^;]+)/.exec(res.headers.get("set-cookie") ?? "")?.[1];
  assert.ok(cookie, "a session cookie");
  return { cookie: `flox_session=${cookie}` };
}

async function sessionPage(s: Session, path: string) {
  const res = await fetch(`${w.srv.url}${path}`, { headers: { cookie: s.cookie, accept: "text/html" } });
  return { status: res.status, text: await res.text() };
}

const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1];

async function post(s: Session, path: string, form: Record<string, string>, origin = w.srv.url) {
  const res = await fetch(`${w.srv.url}${path}`, {
    method: "POST",
    redirect: "manual",
    headers: { cookie: s.cookie, "content-type": "application/x-www-form-urlencoded", origin },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, location: res.headers.get("location"), text: await res.text() };
}

const liveGeneration = async () => (await api("/profiles/acme/dev", tok("reader"))).profile.current as number;

test.before(async () => {
  w = await startFleetWorld("fleet-pages");
});

test.after(async () => {
  await w?.stop();
});

test("channel page: subscribe lines with the server's URL, and the history after a push advances it", async () => {
  const before = await page("/acme/channels/main", tok("reader"));
  assert.is(before.status, 200, before.text);
  assert.ok(before.text.includes(`nix-channel --add ${w.srv.url}/channels/acme acme`), "nix-channel line");
  assert.ok(
    before.text.includes(`flox --server ${w.srv.url} subscribe --channel acme`),
    "flox subscribe line",
  );
  assert.ok(
    before.text.includes(`data-copy="nix-channel --add ${w.srv.url}/channels/acme acme"`),
    "copy button",
  );
  assert.is((before.text.match(/<tr data-point=/g) ?? []).length, 1);

  await w.addPackage("d");
  const second = await w.pushAll("second: d");
  await w.waitChannel(second);
  const after = await page("/acme/channels/main", tok("reader"));
  const rows = after.text.match(/<tr data-point="\d+" data-evaluation="\d+">/g) ?? [];
  assert.is(rows.length, 2, "two points in the history");
  assert.ok(rows[0]?.includes(`data-evaluation="${second}"`), "newest first");
  assert.match(after.text, /data-added="d" data-removed="" data-changed=""/);
  assert.match(after.text, /second: d/, "the commit's subject");
  assert.match(
    after.text,
    new RegExp(`id="current-evaluation"><a href="/acme/evaluations/${second}">#${second}</a>`),
  );

  const list = await page("/acme/channels", tok("reader"));
  assert.match(list.text, /<tr data-channel="acme">/);
});

test("every page's JSON twin is what the API says", async () => {
  const t = tok("reader");
  const json = async (path: string) => {
    const r = await page(path, t, "application/json");
    assert.is(r.status, 200, `${path}: ${r.text}`);
    assert.match(r.headers.get("content-type") ?? "", /application\/json/);
    return JSON.parse(r.text);
  };
  assert.equal(await json("/acme/channels"), await api("/channels?org=acme", t));
  assert.equal(await json("/acme/channels/main"), {
    channel: (await api("/channels/acme/main", t)).channel,
    history: (await api("/channels/acme/main/history", t)).history,
  });
  assert.equal(await json("/acme/profiles"), await api("/profiles?org=acme", t));
  const gens = await api("/profiles/acme/dev/generations", t);
  assert.equal(await json("/acme/profiles/dev"), {
    profile: (await api("/profiles/acme/dev", t)).profile,
    generations: gens.generations,
    events: gens.events,
    schedule: (await api("/profiles/acme/dev/schedule", t)).schedule,
    status: (await api("/profiles/acme/dev/status", t)).status,
  });
  assert.equal(await json("/acme/machines"), await api("/machines?org=acme", t));
  assert.equal(await json("/-/storehouse"), await api("/storehouse", t));
  const builders = await json("/-/builders");
  const live = await api("/builders", t);
  // The builder's last call moves while it polls; everything else is the same.
  const still = (b: { builders: Array<{ lastSeen: string }> }) => ({
    ...b,
    builders: b.builders.map((x) => ({ ...x, lastSeen: "" })),
  });
  assert.equal(still(builders), still(live));
});

test("a member pins the channel from its history and unpins it; a reader has no buttons and is refused", async () => {
  const channel = async () => (await api("/channels/acme", tok("reader"))).channel;
  const history = (await api("/channels/acme/main/history", tok("reader"))).history as Array<{
    evaluation: number;
  }>;
  const first = history[0]?.evaluation ?? 0;
  const newest = history.at(-1)?.evaluation ?? 0;
  assert.ok(first < newest, "two evaluations in the history (the first test pushed)");

  const reader = await login(tok("reader"));
  const readerView = await sessionPage(reader, "/acme/channels/main");
  assert.not.match(readerView.text, /Pin here|id="unpin"/);
  const refused = await post(reader, "/acme/channels/main/pin", {
    _csrf: csrfOf(readerView.text) ?? "",
    evaluation: String(first),
  });
  assert.is(refused.status, 403, refused.text);

  const alice = await login(tok("alice"));
  const view = await sessionPage(alice, "/acme/channels/main");
  const csrf = csrfOf(view.text) ?? "";
  assert.match(
    view.text,
    new RegExp(`name="evaluation" value="${first}"`),
    "a Pin here button on the older point",
  );
  const pinned = await post(alice, "/acme/channels/main/pin", { _csrf: csrf, evaluation: String(first) });
  assert.is(pinned.status, 303, pinned.text);
  assert.is(pinned.location, `/acme/channels/main?pinned=${first}`);
  const now = await channel();
  assert.equal([now.pinned, now.current.evaluation, now.current.reason], [true, first, "pinned"]);
  const after = await sessionPage(alice, pinned.location ?? "");
  assert.match(after.text, /is pinned at evaluation/);
  assert.match(after.text, /id="unpin"/);
  assert.match(after.text, /pinned by alice/);
  assert.match(after.text, /data-added="" data-removed="d" data-changed=""/, "the pin took d away");

  const unpinned = await post(alice, "/acme/channels/main/unpin", { _csrf: csrf });
  assert.is(unpinned.status, 303, unpinned.text);
  assert.is((await channel()).pinned, false);
  // The publisher moves it back to the newest built evaluation on its own.
  await waitFor(
    "channel acme back at the newest evaluation",
    async () => (await channel()).current.evaluation === newest,
  );
});

test("profile page: generations with why, the rollout, and a rollback button that works", async () => {
  const alice = await login(tok("alice"));
  const view = await sessionPage(alice, "/acme/profiles/dev");
  assert.is(view.status, 200, view.text);
  assert.match(view.text, /id="live-generation" data-live="2"/);
  assert.match(view.text, /data-generation="2" data-machines="2"/, "two machines on generation 2");
  assert.match(view.text, /data-generation="1" data-machines="1"/, "one on generation 1");
  assert.match(view.text, /flox profile install acme\/dev acme#b/, "the command that made it");
  assert.match(view.text, /alice-laptop/);
  assert.match(view.text, /Roll back to generation 1/);
  const csrf = csrfOf(view.text);
  assert.ok(csrf, "the form carries the session's CSRF token");

  const r = await post(alice, "/acme/profiles/dev/rollback", { _csrf: csrf ?? "", to: "1" });
  assert.is(r.status, 303, r.text);
  assert.is(r.location, "/acme/profiles/dev?rolledBack=1");
  assert.is(await liveGeneration(), 1, "the API says generation 1 is live");
  const back = await sessionPage(alice, r.location ?? "");
  assert.match(back.text, /id="live-generation" data-live="1"/);
  assert.match(back.text, /Generation 1 is live again/);
  const events = (await api("/profiles/acme/dev/generations", tok("reader"))).events;
  assert.equal(
    {
      action: events.at(-1).action,
      from: events.at(-1).from,
      to: events.at(-1).to,
      author: events.at(-1).author,
    },
    { action: "rollback", from: 2, to: 1, author: "alice" },
  );
  // Forward again with the per-generation button (to=2), for the tests after this one.
  const again = await post(alice, "/acme/profiles/dev/rollback", { _csrf: csrf ?? "", to: "2" });
  assert.is(again.status, 303, again.text);
  assert.is(await liveGeneration(), 2);

  // A script with a Bearer token (no session, so no CSRF token) gets the API's answer.
  const scripted = await fetch(`${w.srv.url}/acme/profiles/dev/rollback`, {
    method: "POST",
    headers: { authorization: `Bearer ${tok("alice")}`, accept: "application/json" },
  });
  assert.is(scripted.status, 200);
  const body = (await scripted.json()) as { profile: { current: number }; generation: { number: number } };
  assert.is(body.profile.current, 1);
  assert.is(body.generation.number, 1);
  assert.equal(body.profile, (await api("/profiles/acme/dev", tok("reader"))).profile);
  const restored = await w.srv.api("POST", "/api/v1/profiles/acme/dev/rollback", { to: 2 }, tok("alice"));
  assert.is(restored.body.generation.number, 2);
});

test("a reader sees no rollback button, and forged POSTs are refused", async () => {
  const reader = await login(tok("reader"));
  const view = await sessionPage(reader, "/acme/profiles/dev");
  assert.is(view.status, 200);
  assert.not.match(view.text, /Roll back to/);
  assert.not.match(view.text, /class="rollback"/);
  assert.not.match(view.text, /action="\/acme\/profiles\/dev\/rollback"/);
  // The reader's own session, with its valid CSRF token (from the logout form): the role is checked.
  const readerCsrf = csrfOf(view.text) ?? "";
  assert.ok(readerCsrf);
  const asReader = await post(reader, "/acme/profiles/dev/rollback", { _csrf: readerCsrf, to: "1" });
  assert.is(asReader.status, 403, asReader.text);

  const alice = await login(tok("alice"));
  const aliceCsrf = csrfOf((await sessionPage(alice, "/acme/profiles/dev")).text) ?? "";
  // A member's session, but the form came without the token, with another session's, or from another site.
  assert.is((await post(alice, "/acme/profiles/dev/rollback", { to: "1" })).status, 403);
  assert.is((await post(alice, "/acme/profiles/dev/rollback", { _csrf: readerCsrf, to: "1" })).status, 403);
  assert.is(
    (await post(alice, "/acme/profiles/dev/rollback", { _csrf: aliceCsrf, to: "1" }, "http://evil.example"))
      .status,
    403,
  );
  // No session at all.
  const anon = await fetch(`${w.srv.url}/acme/profiles/dev/rollback`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: w.srv.url },
    body: "to=1",
  });
  assert.ok(anon.status === 401 || anon.status === 303, `anonymous: ${anon.status}`);
  assert.is(await liveGeneration(), 2, "nothing moved");
});

test("another org's viewer finds nothing: the same 404 as an org that does not exist", async () => {
  const t = tok("outsider");
  for (const path of [
    "/acme/channels",
    "/acme/channels/main",
    "/acme/profiles",
    "/acme/profiles/dev",
    "/acme/profiles/dev/live",
    "/acme/machines",
  ]) {
    const html = await page(path, t);
    assert.is(html.status, 404, `${path}: ${html.status}`);
    assert.not.match(html.text, /acme\/dev|web-1|nix-channel|data-point/, `${path} says nothing of acme`);
    const none = await page(path.replace("/acme", "/nope"), t);
    assert.is(none.status, 404);
    assert.is((await page(path, t, "application/json")).status, 404);
  }
  const outsider = await login(t);
  const forged = await post(outsider, "/acme/profiles/dev/rollback", {
    _csrf: csrfOf((await sessionPage(outsider, "/-/builders")).text) ?? "",
    to: "1",
  });
  assert.is(forged.status, 404, forged.text);
  assert.is(await liveGeneration(), 2);
  // Shared pages: figures only, nothing of acme's packages.
  for (const path of ["/-/builders", "/-/storehouse"]) {
    const r = await page(path, t);
    assert.is(r.status, 200, `${path}: ${r.text}`);
    assert.not.match(r.text, /acme|-c\b|user-environment/);
  }
});

test("machines page: what each machine follows and runs, who is behind", async () => {
  const r = await page("/acme/machines", tok("reader"));
  assert.is(r.status, 200);
  assert.match(
    r.text,
    /<tr data-profile="acme\/dev" data-running="1">[\s\S]*?behind #2[\s\S]*?<\/tr>/,
    "db-1 on 1",
  );
  assert.is((r.text.match(/up to date/g) ?? []).length, 2, "web-1 and web-2 on the live generation");
  assert.match(r.text, /href="\/acme\/profiles\/dev"/);
  assert.match(r.text, /href="\/acme\/channels\/main"/);
});

test("user input is escaped everywhere it shows", async () => {
  // A machine's failure message is free text too.
  const failed = await w.srv.api(
    "POST",
    "/api/v1/machines/me/reports",
    { profile: "acme/dev", generation: 2, status: "failed", message: `switch failed ${HOSTILE}` },
    tok("db-1"),
  );
  assert.is(failed.status, 204, JSON.stringify(failed.body));
  for (const path of ["/acme/channels/main", "/acme/profiles/dev", "/acme/machines"]) {
    const r = await page(path, tok("reader"));
    assert.not.ok(r.text.includes(HOSTILE), `${path}: raw markup`);
    assert.not.match(r.text, /<img src=x/, `${path}: an img element`);
    assert.ok(r.text.includes("&lt;img src=x onerror="), `${path}: shown as text`);
  }
});

test("with --private-cache: the pages say reads need a token; a channel not published yet", async () => {
  const tmp = await mkdtemp(join(tmpdir(), "flox-fleet-private-"));
  const other = await startTestServer({ args: ["--private-cache"] });
  try {
    assert.is((await other.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
    const work = await workRepoFromFixture("dep-chain", tmp);
    const pushed = await push(work, other.gitUrl("acme", other.adminToken), ["HEAD:refs/heads/main"]);
    assert.is(pushed.exitCode, 0, pushed.stderr);
    const get = async (path: string) => {
      const res = await fetch(`${other.url}${path}`, {
        headers: { authorization: `Bearer ${other.adminToken}`, accept: "text/html" },
      });
      assert.is(res.status, 200, path);
      return res.text();
    };
    const channel = await get("/acme/channels/main");
    assert.match(channel, /not published yet/);
    assert.match(channel, /Reads need a token on this server/);
    assert.match(channel, new RegExp(`password for 127\\.0\\.0\\.1:${other.port}`));
    assert.match(await get("/-/storehouse"), /reads need a token/);
  } finally {
    await other.stop();
    await rm(tmp, { recursive: true, force: true });
  }
});

test("login is required; a page redirects to it", async () => {
  const res = await fetch(`${w.srv.url}/acme/profiles/dev`, {
    redirect: "manual",
    headers: { accept: "text/html" },
  });
  assert.is(res.status, 303);
  assert.is(res.headers.get("location"), "/login?next=%2Facme%2Fprofiles%2Fdev");
});

test.run();
