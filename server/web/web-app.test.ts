/**
 * The web routes in process (`app.request`, no socket, no browser): sessions (login, logout, a revoked token, a
 * bad token, `next` kept on this site), CSRF on the evaluation actions, roles, and that the pages shadow none of
 * the API's answers. The browser end-to-end tests are in web.test.ts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createTestApp, type TestApp } from "../../testing/app.js";
import { one } from "../db/raw.js";
import { builds, evalJobs, evaluations, jobsets, pushes } from "../db/tables.js";

let t: TestApp;
let member = "";
let reader = "";
let evaluation = 0;
let failedBuild = 0;
const origin = "http://flox.test";

async function req(path: string, init: RequestInit & { cookie?: string } = {}) {
  const headers = new Headers(init.headers);
  if (init.cookie) headers.set("cookie", init.cookie);
  return t.app.request(`${origin}${path}`, { ...init, headers, redirect: "manual" });
}

/** Logs in through the form; returns the session cookie (`flox_session=…`). */
async function login(token: string): Promise<string> {
  const res = await req("/login", {
    method: "POST",
    headers: { origin, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token, next: "/acme" }).toString(),
  });
  assert.is(res.status, 303);
  assert.is(res.headers.get("location"), "/acme");
  const set = res.headers.get("set-cookie") ?? "";
  assert.match(set, /HttpOnly/);
  assert.match(set, /SameSite=Lax/);
  assert.not.match(set, /Secure/, "plain http: no Secure flag");
  return set.split(";")[0] ?? "";
}

const csrfOf = async (cookie: string, path: string) => {
  const html = await (await req(path, { cookie })).text();
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  assert.ok(m, `a CSRF field on ${path}`);
  return m?.[1] ?? "";
};

const post = (path: string, cookie: string, fields: Record<string, string>, from: string | null = origin) =>
  req(path, {
    method: "POST",
    cookie,
    headers: { "content-type": "application/x-www-form-urlencoded", ...(from ? { origin: from } : {}) },
    body: new URLSearchParams(fields).toString(),
  });

test.before(async () => {
  t = await createTestApp();
  assert.is((await t.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  assert.is((await t.api("POST", "/api/v1/orgs", { name: "other" })).status, 201);
  member = (await t.api("POST", "/api/v1/tokens", { scope: "org", org: "acme", role: "member" })).body.secret;
  reader = (await t.api("POST", "/api/v1/tokens", { scope: "org", org: "acme", role: "reader" })).body.secret;
  // One evaluation with a failed build and a succeeded one, seeded directly.
  const org = (await t.api("GET", "/api/v1/orgs/acme")).body.org;
  assert.ok(org);
  const orgId = 1;
  const js = await t.db.insert(jobsets).values({ orgId, branch: "main" }).returning().then(one);
  const sha = "a".repeat(40);
  const push = await t.db
    .insert(pushes)
    .values({
      orgId,
      ref: "refs/heads/main",
      oldSha: "0".repeat(40),
      newSha: sha,
      pushOptions: [],
      source: "hook",
    })
    .returning()
    .then(one);
  const ev = await t.db
    .insert(evaluations)
    .values({ jobsetId: js.id, pushId: push.id, commitSha: sha, state: "succeeded", jobCount: 2 })
    .returning()
    .then(one);
  evaluation = ev.id;
  for (const [attr, state] of [
    ["bad", "failed"],
    ["good", "succeeded"],
  ] as const) {
    const drvPath = `/nix/store/${attr[0]?.repeat(32)}-${attr}.drv`;
    const b = await t.db
      .insert(builds)
      .values({ drvPath, system: "x86_64-linux", requiredFeatures: [], outputs: {}, state })
      .returning()
      .then(one);
    if (state === "failed") failedBuild = b.id;
    await t.db.insert(evalJobs).values({
      evaluationId: ev.id,
      attr,
      name: attr,
      system: "x86_64-linux",
      drvPath,
      outputs: {},
      buildId: b.id,
    });
  }
});

test.after(() => t.cleanup());

test("login: a session cookie, pages as that token, logout ends it; a bad token is a 401 form", async () => {
  const cookie = await login(member);
  const page = await req("/acme", { cookie });
  assert.is(page.status, 200);
  assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/);
  const bad = await req("/login", {
    method: "POST",
    headers: { origin, "content-type": "application/x-www-form-urlencoded" },
    body: "token=flox_nope",
  });
  assert.is(bad.status, 401);
  assert.match(await bad.text(), /not known to this server/);
  const csrf = await csrfOf(cookie, "/acme");
  assert.is((await post("/logout", cookie, {})).status, 403, "logout is an action too");
  assert.is((await post("/logout", cookie, { _csrf: csrf })).status, 303);
  const after = await req("/acme", { cookie });
  assert.is(after.status, 303, "the session is gone");
  assert.is(after.headers.get("location"), "/login?next=%2Facme");
});

test("a login from another site is refused; next never leaves this site", async () => {
  const forged = await req("/login", {
    method: "POST",
    headers: { origin: "http://evil.example", "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: member }).toString(),
  });
  assert.is(forged.status, 403);
  for (const next of ["//evil.example/x", "https://evil.example", "/\\evil.example"]) {
    const res = await req("/login", {
      method: "POST",
      headers: { origin, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: member, next }).toString(),
    });
    assert.is(res.headers.get("location"), "/", next);
  }
});

test("revoking the token ends its sessions at the next request", async () => {
  const made = await t.api("POST", "/api/v1/tokens", {
    scope: "org",
    org: "acme",
    role: "reader",
    name: "short",
  });
  const cookie = await login(made.body.secret);
  assert.is((await req("/acme", { cookie })).status, 200);
  assert.is((await t.api("DELETE", `/api/v1/tokens/${made.body.token.id}`)).status, 204);
  assert.is((await req("/acme", { cookie })).status, 303);
});

test("evaluation actions: CSRF and Origin checked, member only, then done", async () => {
  const path = `/acme/evaluations/${evaluation}/restart`;
  const rc = await login(reader);
  const readerPage = await (await req(`/acme/evaluations/${evaluation}`, { cookie: rc })).text();
  assert.not.match(readerPage, /Restart failed/, "no button for a reader");
  const readerCsrf = await csrfOf(rc, "/acme");
  assert.is((await post(path, rc, { _csrf: readerCsrf })).status, 403, "a reader may not");

  const mc = await login(member);
  const memberPage = await (await req(`/acme/evaluations/${evaluation}`, { cookie: mc })).text();
  assert.match(memberPage, /Restart failed/);
  const csrf = await csrfOf(mc, `/acme/evaluations/${evaluation}`);
  assert.is((await post(path, mc, {})).status, 403);
  assert.is((await post(path, mc, { _csrf: "x" })).status, 403);
  assert.is((await post(path, mc, { _csrf: readerCsrf })).status, 403, "another session's token");
  assert.is((await post(path, mc, { _csrf: csrf }, "http://evil.example")).status, 403);
  assert.is((await t.api("GET", `/api/v1/builds/${failedBuild}`)).body.build.state, "failed");
  const ok = await post(path, mc, { _csrf: csrf });
  assert.is(ok.status, 303);
  assert.is(ok.headers.get("location"), `/acme/evaluations/${evaluation}`);
  assert.is((await t.api("GET", `/api/v1/builds/${failedBuild}`)).body.build.state, "queued");
  // A Bearer client needs no CSRF token (browsers never send that header by themselves).
  const cancel = await req(`/acme/evaluations/${evaluation}/cancel`, {
    method: "POST",
    headers: { authorization: `Bearer ${member}` },
  });
  assert.is(cancel.status, 303);
  assert.is((await t.api("GET", `/api/v1/builds/${failedBuild}`)).body.build.state, "cancelled");
});

test("a branch with a slash is one jobset page, its name escaped into links", async () => {
  await t.db.insert(jobsets).values({ orgId: 1, branch: "feature/x" });
  const cookie = await login(reader);
  const page = await req("/acme/jobsets/feature%2Fx", { cookie });
  assert.is(page.status, 200);
  const html = await page.text();
  assert.match(html, /<h1>feature\/x /);
  assert.match(html, /\/acme\/jobsets\/feature%2Fx\/badge\.svg/);
  const org = await (await req("/acme", { cookie })).text();
  assert.match(org, /href="\/acme\/jobsets\/feature%2Fx"/);
  const badge = await req("/acme/jobsets/feature%2Fx/badge.svg", { cookie });
  assert.is(badge.status, 200);
  assert.match(await badge.text(), /feature\/x: unknown/);
});

test("pages are 404 across orgs: another org's evaluation and build, and an org the viewer cannot read", async () => {
  const cookie = await login(reader);
  for (const path of [
    `/other/evaluations/${evaluation}`,
    `/other/builds/${failedBuild}`,
    "/other",
    "/acme/builds/999",
  ]) {
    assert.is((await req(path, { cookie })).status, 404, path);
  }
  const json = await req("/other", { cookie, headers: { accept: "application/json" } });
  assert.is(json.status, 404);
  assert.is(((await json.json()) as { error: { code: string } }).error.code, "not_found");
});

test("the pages shadow no API answer; unknown paths are HTML for browsers, JSON for the rest", async () => {
  const health = await req("/api/v1/health", { headers: { accept: "text/html" } });
  assert.is(health.status, 200);
  assert.is(((await health.json()) as { ok: boolean }).ok, true);
  const apiMissing = await req("/api/v1/nope", { headers: { accept: "text/html" } });
  assert.is(apiMissing.status, 404);
  assert.match(apiMissing.headers.get("content-type") ?? "", /json/);
  const pageMissing = await req("/acme/nope/deeper", { headers: { accept: "text/html" } });
  assert.is(pageMissing.status, 404);
  assert.match(pageMissing.headers.get("content-type") ?? "", /html/);
  const unauthorized = await req("/api/v1/orgs/acme");
  assert.is(unauthorized.status, 401, "the API still wants its Bearer token");
  const icon = await req("/favicon.ico");
  assert.is(icon.status, 301);
  for (const name of ["login", "api", "cache"]) {
    const made = await t.api("POST", "/api/v1/orgs", { name });
    assert.is(made.status, 400, `org "${name}" would be shadowed`);
  }
  const css = await req(
    (/href="(\/-\/style\.[0-9a-f]+\.css)"/.exec(await (await req("/login")).text()) ?? [])[1] ?? "/x",
  );
  assert.is(css.status, 200);
  assert.match(css.headers.get("cache-control") ?? "", /immutable/);
});

test.run();
