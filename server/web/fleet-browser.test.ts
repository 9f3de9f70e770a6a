/**
 * The fleet pages in a real Chromium (playwright-core): a member rolls a profile back with the button and sees the
 * generation change on the page and in the API; a reader sees no button and a POST forged from the page is
 * refused; the rollout and live generation update on an open page as machines report and rollbacks happen
 * elsewhere; the channel page's copy button; screenshots of every fleet page under test-output/screenshots/.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { launchBrowser, type TestBrowser } from "../../testing/browser.js";
import { type FleetWorld, startFleetWorld } from "../../testing/fleet-world.js";
import { waitFor } from "../../testing/wait-for.js";

let w: FleetWorld;
let browser: TestBrowser;

const live = async () => (await w.api("/profiles/acme/dev", w.tok("reader"))).profile.current as number;

test.before(async () => {
  w = await startFleetWorld("fleet-browser");
  browser = await launchBrowser();
});

test.after(async () => {
  await browser?.close();
  await w?.stop();
});

test("a member rolls back with the button: the page and the API show generation 1", async () => {
  const page = await browser.page();
  await browser.login(page, w.srv.url, w.tok("alice"));
  await page.goto(`${w.srv.url}/acme/profiles/dev`);
  assert.is(await page.textContent("#live-generation"), "#2");
  await browser.screenshot(page, "fleet-profile");
  await Promise.all([
    page.waitForURL(/rolledBack=1/),
    page.click("#actions button:has-text('Roll back to generation 1')"),
  ]);
  assert.is(await page.textContent("#live-generation"), "#1");
  assert.match((await page.textContent("#flash")) ?? "", /Generation 1 is live again/);
  assert.is(await live(), 1, "the API agrees");
  await browser.screenshot(page, "fleet-profile-rolled-back");
  // And forward again from the generations table.
  await Promise.all([
    page.waitForURL(/rolledBack=2/),
    page.click("tr[data-generation='2'] button:has-text('Make live')"),
  ]);
  assert.is(await page.textContent("#live-generation"), "#2");
  assert.is(await live(), 2);
  await page.close();
  await browser.logout();
});

test("a reader sees no rollback button; a POST forged from the page is refused", async () => {
  const page = await browser.page();
  await browser.login(page, w.srv.url, w.tok("reader"));
  await page.goto(`${w.srv.url}/acme/profiles/dev`);
  assert.is(await page.locator("form.rollback").count(), 0);
  assert.is(await page.locator("button:has-text('Roll back')").count(), 0);
  // A script on the page posts the form itself, with and without the session's token: both refused.
  const statuses = await page.evaluate(async () => {
    const doc = (
      globalThis as unknown as { document: { querySelector(s: string): { value: string } | null } }
    ).document;
    const csrf = doc.querySelector("input[name=_csrf]")?.value ?? "";
    const send = (body: string) =>
      fetch("/acme/profiles/dev/rollback", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body,
        redirect: "manual",
      }).then((r) => r.status);
    return [await send(`_csrf=${encodeURIComponent(csrf)}&to=1`), await send("to=1")];
  });
  assert.equal(statuses, [403, 403]);
  assert.is(await live(), 2, "nothing moved");
  await browser.screenshot(page, "fleet-profile-reader");

  // Live, without reloading: db-1 reports generation 2, then alice rolls back elsewhere.
  await page.evaluate(() => {
    (globalThis as unknown as { stillHere: boolean }).stillHere = true;
  });
  await page.waitForSelector("#live-state:has-text('live')");
  const report = await w.srv.api(
    "POST",
    "/api/v1/machines/me/reports",
    { profile: "acme/dev", generation: 2, status: "ok" },
    w.tok("db-1"),
  );
  assert.is(report.status, 204);
  await page.waitForSelector("#rollout-body [data-generation='2'][data-machines='3']");
  assert.is(await page.getAttribute("#on-live", "data-on-live"), "3");
  const back = await w.srv.api("POST", "/api/v1/profiles/acme/dev/rollback", { to: 1 }, w.tok("alice"));
  assert.is(back.status, 200, JSON.stringify(back.body));
  await page.waitForSelector("#live-generation[data-live='1']");
  assert.is(await page.textContent("#head-sub"), "generation 1 is live · 1 package · 2 generations");
  assert.is(await page.locator("#activity-body tr[data-action='rollback']").count(), 3);
  assert.ok(
    await page.evaluate(() => (globalThis as unknown as { stillHere?: boolean }).stillHere === true),
    "the same page, never reloaded",
  );
  await browser.screenshot(page, "fleet-profile-live");
  const forward = await w.srv.api("POST", "/api/v1/profiles/acme/dev/rollback", { to: 2 }, w.tok("alice"));
  assert.is(forward.status, 200);
  await page.close();
  await browser.logout();
});

test("channel page: subscribe lines, copy button, history; and the other fleet pages", async () => {
  await w.addPackage("d");
  await w.waitChannel(await w.pushAll("second: d"));
  await browser.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: w.srv.url });
  const page = await browser.page();
  await browser.login(page, w.srv.url, w.tok("alice"));
  await page.goto(`${w.srv.url}/acme/channels/main`);
  const line = `nix-channel --add ${w.srv.url}/channels/acme acme`;
  const button = page.locator(`button[data-copy="${line}"]`);
  await button.click();
  await page.waitForFunction(
    (text) =>
      (
        globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }
      ).navigator.clipboard
        .readText()
        .then((t) => t === text),
    line,
  );
  assert.is(await page.locator("tr[data-point]").count(), 2);
  assert.is(await page.title(), "acme · channel · flox", "no injected script ran");
  await browser.screenshot(page, "fleet-channel");
  for (const [path, name] of [
    ["/acme/channels", "fleet-channels"],
    ["/acme/profiles", "fleet-profiles"],
    ["/acme/machines", "fleet-machines"],
    ["/-/storehouse", "fleet-storehouse"],
  ] as const) {
    const r = await page.goto(`${w.srv.url}${path}`);
    assert.is(r?.status(), 200, path);
    await browser.screenshot(page, name);
  }

  // A build that runs a while: the builders page says who builds it, and links to it.
  await w.addPackage("slow-one", `sleep ${300_000 + (Date.now() % 100_000)}; mkdir $out`);
  await w.pushAll("a slow one");
  const running = await waitFor("the slow build to run", async () => {
    const r = await w.srv.api("GET", "/api/v1/builds?state=running&org=acme", undefined, w.tok("alice"));
    return (r.body.builds as Array<{ id: number; drvPath: string }>).find((b) =>
      b.drvPath.endsWith("-slow-one.drv"),
    );
  });
  await page.goto(`${w.srv.url}/-/builders`);
  const row = page.locator(`tr[data-builder='b1'] .building[data-build='${running.id}']`);
  assert.match((await row.textContent()) ?? "", /slow-one/);
  assert.is(await row.locator("a").getAttribute("href"), `/acme/builds/${running.id}`);
  assert.is(await page.getAttribute("#running", "data-running"), "1");
  await browser.screenshot(page, "fleet-builders");
  const cancel = await w.srv.api("POST", `/api/v1/builds/${running.id}/cancel`, undefined, w.tok("alice"));
  assert.is(cancel.status, 200);
  await page.close();
});

test.run();
