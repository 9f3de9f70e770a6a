/**
 * The web pages end to end: a real server, a real push through the gate, a real `flox builder`, and Debian's
 * Chromium (playwright-core) looking at the pages: a build page that goes from queued to succeeded by itself,
 * a failed build's log, buttons only for those allowed, forged POSTs refused, private orgs invisible, JSON twins
 * equal to the API, and a hostile commit message shown as text. Screenshots land in test-output/screenshots/.
 */
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { launchBrowser, type TestBrowser } from "../../testing/browser.js";
import { type BuilderProcess, serverSystem, startBuilderProcess } from "../../testing/builder.js";
import { buildFinished, latestEvaluationId } from "../../testing/ci-harness.js";
import { removeTree } from "../../testing/remove-tree.js";
import { commitAll, ensureCompiledHooks, push, workRepoFromFixture } from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";

let srv: TestServer;
let tmp = "";
let work = "";
let builderToken = "";
let memberToken = "";
let readerToken = "";
let system = "";
let browser: TestBrowser;
let builder: BuilderProcess | undefined;
let evaluation = 0;
const buildOf: Record<string, number> = {};

const HOSTILE = `web test <script>window.__xss = 1</script> & "quotes"`;

const slowNix = `{ stdenv }:
stdenv.mkDerivation {
  pname = "slow";
  version = "1.0";
  dontUnpack = true;
  buildPhase = ''
    for i in 1 2 3 4; do echo "slow: step $i"; sleep 1; done
  '';
  installPhase = "mkdir -p $out";
}
`;

const noisyNix = `{ stdenv }:
stdenv.mkDerivation {
  pname = "noisy";
  version = "1.0";
  dontUnpack = true;
  buildPhase = ''
    printf '\\033[1;32mgreen step\\033[0m <b>not markup</b>\\n'
    echo "error: noisy failed on purpose" >&2
    exit 1
  '';
  installPhase = "mkdir -p $out";
}
`;

const explain = () =>
  `--- builder\n${builder?.log().slice(-2000) ?? "(none)"}\n--- server\n${srv.stderr().slice(-2000)}`;

async function buildState(id: number): Promise<string> {
  return (await srv.api("GET", `/api/v1/builds/${id}`)).body.build.state;
}

/** Marks the page so that a reload (which would drop the mark) is noticed. */
const markPage = (page: Page) => page.evaluate("window.__noReload = 42");
const stillSamePage = async (page: Page) => (await page.evaluate("window.__noReload")) === 42;

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-web-"));
  srv = await startTestServer({ dataDir: join(tmp, "data") });
  for (const name of ["acme", "secret"]) {
    assert.is((await srv.api("POST", "/api/v1/orgs", { name })).status, 201);
  }
  const token = async (body: object) => {
    const t = await srv.api("POST", "/api/v1/tokens", body);
    assert.is(t.status, 201, JSON.stringify(t.body));
    return t.body.secret as string;
  };
  builderToken = await token({ scope: "builder", name: "web-test" });
  memberToken = await token({ scope: "org", org: "acme", role: "member", name: "mia (member)" });
  readerToken = await token({ scope: "org", org: "acme", role: "reader", name: "rex (reader)" });
  system = await serverSystem(srv.dataDir);
  work = await workRepoFromFixture("failing-build", tmp);
  for (const [name, nix] of Object.entries({ slow: slowNix, noisy: noisyNix })) {
    await mkdir(join(work, "pkgs", name), { recursive: true });
    await writeFile(join(work, "pkgs", name, "default.nix"), nix);
  }
  await commitAll(work, HOSTILE);
  const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  evaluation = await latestEvaluationId(srv, "acme");
  const e = await waitFor(
    "the evaluation to finish",
    async () => {
      const b = (await srv.api("GET", `/api/v1/evaluations/${evaluation}`)).body.evaluation;
      return b.state === "succeeded" && b;
    },
    { explain, timeoutMs: 60_000 },
  );
  for (const j of e.jobs) buildOf[j.attr] = j.build.id;
  browser = await launchBrowser();
});

test.after(async () => {
  await builder?.stop();
  await browser?.close();
  await srv?.stop();
  if (tmp) await removeTree(tmp);
});

test("a build page goes from queued to running to succeeded without a reload, its log arriving live", async () => {
  const page = await browser.page();
  await page.goto(`${srv.url}/login`);
  await browser.screenshot(page, "login");
  await browser.login(page, srv.url, memberToken);
  const slow = buildOf.slow as number;
  assert.is(await buildState(slow), "queued", "no builder runs yet");
  await page.goto(`${srv.url}/acme/builds/${slow}`);
  assert.is(await page.locator("#state [data-state]").getAttribute("data-state"), "queued");
  assert.ok(await page.locator("#log[data-events]").count(), "an unfinished build's log follows the events");
  await markPage(page);

  // The evaluation page, open beside it, follows the same builds.
  const evalPage = await browser.page();
  await evalPage.goto(`${srv.url}/acme/evaluations/${evaluation}`);
  assert.is(await evalPage.locator("[data-attr=slow] [data-state]").getAttribute("data-state"), "queued");
  await markPage(evalPage);

  builder = startBuilderProcess(srv, {
    name: "web-builder",
    token: builderToken,
    store: join(tmp, "store"),
    system,
  });
  await page.waitForSelector("#state [data-state=running]", { timeout: 60_000 });
  await page.locator("#log", { hasText: "slow: step 2" }).waitFor({ timeout: 30_000 });
  await browser.screenshot(page, "build-running");
  await page.waitForSelector("#state [data-state=succeeded]", { timeout: 60_000 });
  assert.ok(await stillSamePage(page), "the page changed by itself, not by a reload");
  const log = (await page.locator("#log").textContent()) ?? "";
  for (const i of [1, 2, 3, 4]) assert.ok(log.includes(`slow: step ${i}`), `log line ${i} arrived:\n${log}`);
  assert.is((log.match(/slow: step 1/g) ?? []).length, 1, "each line once");
  assert.ok((await page.locator("#facts").textContent())?.includes("web-builder"), "the builder is named");
  assert.is(await page.locator("#live").textContent(), "", "the live mark goes when the build finished");
  await browser.screenshot(page, "build-succeeded");
  await page.close();
  await evalPage.locator("[data-attr=slow] [data-state=succeeded]").waitFor({ timeout: 30_000 });
  await evalPage.locator("#live-state", { hasText: /^$/ }).waitFor({ state: "attached", timeout: 30_000 });
  assert.ok(await stillSamePage(evalPage), "the evaluation page followed the builds without a reload");
  assert.is(await evalPage.locator("[data-attr=noisy] [data-state]").getAttribute("data-state"), "failed");
  await evalPage.close();
});

test("a failed build's page shows its log, escaped, with the error lines marked", async () => {
  const noisy = buildOf.noisy as number;
  await waitFor("noisy to fail", async () => buildFinished(await buildState(noisy)), {
    explain,
    timeoutMs: 60_000,
  });
  assert.is(await buildState(noisy), "failed");
  const page = await browser.page();
  await page.goto(`${srv.url}/acme/builds/${noisy}`);
  assert.is(await page.locator("#state [data-state]").getAttribute("data-state"), "failed");
  const log = (await page.locator("#log").textContent()) ?? "";
  assert.ok(log.includes("error: noisy failed on purpose"), log);
  assert.ok(log.includes("<b>not markup</b>"), "markup in a log is text");
  assert.is(await page.locator("#log b").count(), 0);
  assert.ok(await page.locator("#log .err-line", { hasText: "noisy failed on purpose" }).count());
  assert.not.ok(log.includes("\u001b"), "no raw escape characters");
  await page.click("#jump-error");
  assert.is(
    await page.locator("#log .err-line.flashline").count(),
    1,
    "the first error line is shown and marked",
  );
  assert.ok(
    (await page.locator("#log .err-line").first().getAttribute("class"))?.includes("flashline"),
    "and it is the first one",
  );
  assert.ok(await page.locator("[data-action=restart]").count(), "a member may restart it");
  const raw = await page.request.get(`${srv.url}/acme/builds/${noisy}/log`);
  assert.ok((await raw.text()).includes("green step <b>not markup</b>"), "the raw log is the bytes as built");
  assert.match(raw.headers()["content-type"] ?? "", /text\/plain/);
  await browser.screenshot(page, "build-failed");

  // The member's restart button works: the build is queued again (and fails again).
  await Promise.all([
    page.waitForURL(`${srv.url}/acme/builds/${noisy}`),
    page.click("[data-action=restart]"),
  ]);
  assert.ok(["queued", "running", "failed"].includes(await buildState(noisy)));
  const serverLog = await readFile(join(srv.dataDir, "logs", "server.log"), "utf8");
  assert.match(serverLog, new RegExp(`"build":${noisy},[^\\n]*"via":"web"[^\\n]*build restarted`));
  await page.close();
});

/** A form POST as a browser would send it, with the session cookie of `browser`. */
async function formPost(path: string, fields: Record<string, string>, origin: string | null) {
  const cookie = (await browser.context.cookies(srv.url)).map((c) => `${c.name}=${c.value}`).join("; ");
  const headers: Record<string, string> = { cookie, "content-type": "application/x-www-form-urlencoded" };
  if (origin !== null) headers.origin = origin;
  return fetch(`${srv.url}${path}`, {
    method: "POST",
    headers,
    body: new URLSearchParams(fields).toString(),
    redirect: "manual",
  });
}

test("forged POSTs are refused; a reader sees no restart or cancel button and may not post one", async () => {
  const noisy = buildOf.noisy as number;
  await waitFor("noisy to fail again", async () => (await buildState(noisy)) === "failed", { explain });
  const page = await browser.page();
  await page.goto(`${srv.url}/acme/builds/${noisy}`);
  const csrf = await page.locator("input[name=_csrf]").first().inputValue();
  assert.ok(csrf.length > 20);
  const path = `/acme/builds/${noisy}/restart`;
  // The member's own session, but without the form's token, with a wrong one, and from another site.
  assert.is((await formPost(path, {}, srv.url)).status, 403, "no CSRF token");
  assert.is((await formPost(path, { _csrf: `${csrf}x` }, srv.url)).status, 403, "wrong CSRF token");
  assert.is((await formPost(path, { _csrf: csrf }, "http://evil.example")).status, 403, "other Origin");
  assert.is((await formPost(path, { _csrf: csrf }, null)).status, 403, "no Origin at all");
  assert.is(await buildState(noisy), "failed", "nothing was restarted");
  // The same request from this site with the token goes through: the refusals above were the checks.
  const ok = await formPost(path, { _csrf: csrf }, srv.url);
  assert.is(ok.status, 303);
  assert.ok(["queued", "running", "failed"].includes(await buildState(noisy)));
  await waitFor("noisy to fail once more", async () => (await buildState(noisy)) === "failed", { explain });

  await browser.logout();
  await browser.login(page, srv.url, readerToken);
  await page.goto(`${srv.url}/acme/builds/${noisy}`);
  assert.is(await page.locator("[data-action]").count(), 0, "no restart/cancel for a reader");
  assert.ok((await page.locator(".who").textContent())?.includes("rex (reader)"));
  await browser.screenshot(page, "build-failed-reader");
  const readerCsrf = await page.locator("input[name=_csrf]").first().inputValue();
  const refused = await formPost(path, { _csrf: readerCsrf }, srv.url);
  assert.is(refused.status, 403, "a reader's well-formed POST is still refused");
  assert.is(await buildState(noisy), "failed");
  await page.close();
});

test("a private org is a 404 to a non-member, like an org that does not exist", async () => {
  // Still logged in as acme's reader, who has no role in "secret".
  const page = await browser.page();
  for (const path of ["/secret", "/secret/jobsets/main", "/no-such-org"]) {
    const res = await page.goto(`${srv.url}${path}`);
    assert.is(res?.status(), 404, path);
    assert.ok((await page.locator("h1").textContent())?.includes("Not found"));
  }
  const asJson = await fetch(`${srv.url}/secret`, {
    headers: { accept: "application/json", authorization: `Bearer ${readerToken}` },
  });
  assert.is(asJson.status, 404);
  // Logged out: every page sends you to the login form (and says nothing about which orgs exist).
  const anon = await fetch(`${srv.url}/secret`, { redirect: "manual" });
  assert.is(anon.status, 303);
  assert.is(anon.headers.get("location"), "/login?next=%2Fsecret");
  await page.close();
});

test("each page's JSON twin equals the API's answer", async () => {
  const get = async (path: string) => {
    const r = await fetch(`${srv.url}${path}`, {
      headers: { accept: "application/json", authorization: `Bearer ${memberToken}` },
    });
    assert.is(r.status, 200, path);
    assert.match(r.headers.get("content-type") ?? "", /application\/json/);
    // biome-ignore lint/suspicious/noExplicitAny: compared whole with the API's answer
    return (await r.json()) as any;
  };
  const api = async (path: string) => (await srv.api("GET", `/api/v1${path}`, undefined, memberToken)).body;
  assert.equal(await get(`/acme/evaluations/${evaluation}`), await api(`/evaluations/${evaluation}`));
  const slow = buildOf.slow as number;
  assert.equal(await get(`/acme/builds/${slow}`), await api(`/builds/${slow}`));
  const org = await get("/acme");
  assert.equal(org.org, (await api("/orgs/acme")).org);
  assert.equal(org.jobsets, (await api("/orgs/acme/jobsets")).jobsets);
  const jobset = await get("/acme/jobsets/main");
  assert.equal(jobset.evaluations, (await api("/orgs/acme/jobsets/main/evaluations")).evaluations);
  assert.equal(await get("/"), await api("/orgs"));
  // The same with the browser's session cookie instead of a Bearer token (the reader is logged in now).
  const cookie = (await browser.context.cookies(srv.url)).map((c) => `${c.name}=${c.value}`).join("; ");
  const viaSession = await fetch(`${srv.url}/acme/builds/${slow}`, {
    headers: { accept: "application/json", cookie },
  });
  assert.equal(await viaSession.json(), await api(`/builds/${slow}`));
});

test("a commit message with <script> shows as text; badges answer SVG", async () => {
  await browser.logout();
  const page = await browser.page();
  await browser.login(page, srv.url, memberToken);
  for (const path of ["/acme/jobsets/main", `/acme/evaluations/${evaluation}`, "/acme"]) {
    await page.goto(`${srv.url}${path}`);
    const text = (await page.locator("main").textContent()) ?? "";
    assert.ok(text.includes(HOSTILE), `${path} shows the message as written`);
    assert.is(await page.evaluate("window.__xss"), undefined);
    assert.ok((await page.content()).includes("&lt;script&gt;window.__xss"), `${path} escapes it`);
  }
  await browser.screenshot(page, "org");
  await page.goto(`${srv.url}/acme/jobsets/main`);
  await browser.screenshot(page, "jobset");
  await page.goto(`${srv.url}/acme/evaluations/${evaluation}`);
  assert.ok(await page.locator("[data-attr=noisy]").count());
  await browser.screenshot(page, "evaluation");
  for (const path of ["/acme/jobsets/main/badge.svg", "/acme/jobsets/main/jobs/noisy/badge.svg"]) {
    const r = await page.request.get(`${srv.url}${path}`);
    assert.is(r.status(), 200);
    assert.match(r.headers()["content-type"] ?? "", /image\/svg\+xml/);
    assert.match(await r.text(), /failing|failed/);
  }
  await page.close();
});

test("a public org is readable without logging in: pages, log, badges embedded elsewhere; private again, it is gone", async () => {
  const noisy = buildOf.noisy ?? 0;
  // The same tree pushed to the private org "secret": the builds are shared by drv path.
  const shared = await push(work, srv.gitUrl("secret", srv.adminToken), ["HEAD:refs/heads/hidden-branch"]);
  assert.is(shared.exitCode, 0, shared.stderr);
  await waitFor(
    "secret's evaluation to want acme's build",
    async () => {
      const b = (await srv.api("GET", `/api/v1/builds/${noisy}`)).body.build;
      return b.jobs.some((j: { org: string }) => j.org === "secret");
    },
    { explain },
  );
  const made = await srv.api("PATCH", "/api/v1/orgs/acme", { public: true });
  assert.is(made.status, 200, JSON.stringify(made.body));
  await browser.logout();
  const page = await browser.page();
  for (const path of [
    "/acme",
    "/acme/jobsets/main",
    `/acme/evaluations/${evaluation}`,
    `/acme/builds/${noisy}`,
    "/acme/channels",
  ]) {
    const res = await page.goto(`${srv.url}${path}`);
    assert.is(res?.status(), 200, path);
    assert.is(new URL(page.url()).pathname, path, `${path}: no detour through /login`);
  }
  // The build page as nobody: its log, no button to steer it, and not a word of the private org that shares it.
  await page.goto(`${srv.url}/acme/builds/${noisy}`);
  assert.not.ok((await page.content()).includes("hidden-branch"), "secret's branch is not shown");
  const asNobody = (await (await fetch(`${srv.url}/api/v1/builds/${noisy}`)).json()) as {
    build: { jobs: { org: string }[] };
  };
  assert.equal(
    asNobody.build.jobs.map((j: { org: string }) => j.org),
    ["acme"],
  );
  assert.not.ok(JSON.stringify(asNobody).includes("secret"));
  assert.ok(((await page.locator("main").textContent()) ?? "").includes("error: noisy failed on purpose"));
  assert.is(await page.locator("form[action$='/restart'], form[action$='/cancel']").count(), 0);
  await browser.screenshot(page, "public-build-anonymous");
  assert.ok(await page.locator("a[href='/login']").count(), "a way to log in is offered");
  // A POST as nobody still goes nowhere.
  const forged = await page.request.post(`${srv.url}/acme/builds/${noisy}/restart`, { maxRedirects: 0 });
  assert.ok([401, 403, 303].includes(forged.status()), `anonymous restart: ${forged.status()}`);
  assert.is((await srv.api("GET", `/api/v1/builds/${noisy}`)).body.build.attempts, 1, "nothing restarted");

  // A forge's README, on another origin and with no cookie of ours, shows the badges.
  const badges = ["/acme/jobsets/main/badge.svg", "/acme/jobsets/main/jobs/noisy/badge.svg"];
  const readme = async () => {
    const forge = await browser.page();
    await forge.setContent(
      `<h1>README</h1>${badges.map((b, n) => `<img id="b${n}" src="${srv.url}${b}">`).join("")}`,
    );
    await forge.waitForFunction(`[...document.images].every((i) => i.complete)`);
    const widths = (await forge.evaluate(`[...document.images].map((i) => i.naturalWidth)`)) as number[];
    await forge.close();
    return widths;
  };
  const shown = await readme();
  assert.ok(
    shown.every((w) => w > 0),
    `badges render: ${shown}`,
  );
  // The API's reads and the Storehouse's log need no token either; the org's members do.
  for (const path of [
    "/api/v1/orgs/acme",
    "/api/v1/orgs/acme/jobsets",
    `/api/v1/evaluations/${evaluation}`,
    `/api/v1/builds/${noisy}`,
    `/api/v1/builds/${noisy}/log`,
  ]) {
    assert.is((await fetch(`${srv.url}${path}`)).status, 200, path);
  }
  assert.is((await fetch(`${srv.url}/api/v1/orgs/acme/members`)).status, 401);
  const drv = (await srv.api("GET", `/api/v1/builds/${noisy}`)).body.build.drvPath as string;
  const log = await fetch(`${srv.url}/cache/log/${drv.replace("/nix/store/", "")}`);
  assert.is(log.status, 200);
  assert.match(await log.text(), /noisy failed on purpose/);

  // Private again: nobody sees anything, exactly as for an org that does not exist.
  assert.is((await srv.api("PATCH", "/api/v1/orgs/acme", { public: false })).status, 200);
  for (const path of ["/acme", `/acme/builds/${noisy}`]) {
    await page.goto(`${srv.url}${path}`);
    assert.is(new URL(page.url()).pathname, "/login", `${path} asks for a login`);
    const ghost = path.replace("acme", "ghost");
    const [a, g] = await Promise.all(
      [path, ghost].map((p) => fetch(`${srv.url}${p}`, { redirect: "manual" })),
    );
    assert.is(a?.status, g?.status);
    assert.is(a?.headers.get("location")?.replace("acme", "ghost"), g?.headers.get("location"));
  }
  const hidden = await readme();
  assert.ok(
    hidden.every((w) => w === 0),
    `no badge for a private org: ${hidden}`,
  );
  assert.is((await fetch(`${srv.url}/api/v1/builds/${noisy}`)).status, 401);
  assert.is((await fetch(`${srv.url}/api/v1/orgs/acme`)).status, 401);
  await page.close();
});

test.run();
