// Where logging in sends the browser: only ever a path on this server, whatever `next` says.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startTestServer, type TestServer } from "../../testing/server.js";

let srv: TestServer;

test.before(async () => {
  srv = await startTestServer();
});

test.after(async () => {
  await srv?.stop();
});

/** POST /login as the browser would send the form, with `next` as given; the answer's Location. */
async function loginThen(next: string): Promise<string> {
  const res = await fetch(`${srv.url}/login`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: srv.url },
    body: new URLSearchParams({ token: srv.adminToken, next }).toString(),
    redirect: "manual",
  });
  assert.is(res.status, 303, `next=${JSON.stringify(next)}`);
  const location = res.headers.get("location");
  if (location === null) throw new Error("no Location");
  return location;
}

/** Where a browser on the server's page goes with that Location. */
const resolved = (location: string) => new URL(location, srv.url);

const offSite = [
  "/\t/evil.example/phish", // the tester's: next=%2F%09%2Fevil.example%2Fphish
  "//evil.example",
  "/\\evil.example",
  "\\/evil.example",
  "https://evil.example/",
  "http:evil.example",
  "/.//evil.example/x", // resolves to the path //evil.example/x
  "/a/..//evil.example",
  "/\n/evil.example",
  "javascript:alert(1)",
];

test("a next that a browser would resolve off-site lands on this server", async () => {
  for (const next of offSite) {
    const location = await loginThen(next);
    const url = resolved(location);
    assert.is(url.origin, new URL(srv.url).origin, `next=${JSON.stringify(next)} → ${location}`);
    assert.ok(
      location.startsWith("/") && !/^\/[/\\]/.test(location),
      `${JSON.stringify(next)} → ${location}`,
    );
    assert.not.match(location, /[\t\n\r]/);
  }
});

test("the login form carries only a safe next", async () => {
  const res = await fetch(`${srv.url}/login?next=%2F%09%2Fevil.example%2Fphish`, {
    headers: { accept: "text/html" },
  });
  assert.is(res.status, 200);
  const html = await res.text();
  assert.not.match(html, /evil\.example/);
  assert.match(html, /name="next" value="\/"/);
});

test("a path on this server, with its query and fragment, is kept", async () => {
  assert.is(await loginThen("/acme/builds?state=failed#top"), "/acme/builds?state=failed#top");
  assert.is(await loginThen("/%09/evil"), "/%09/evil");
  assert.is(await loginThen(""), "/");
});

test.run();
