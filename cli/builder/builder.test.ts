/**
 * `flox builder` as an operator starts it, against a real `flox server`: what it does with a refused token and with
 * a store it must not take. No builds run here (builders.test.ts builds).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type BuilderProcess,
  serverSystem,
  startBuilderProcess,
  waitFor,
} from "../../server/testing/ci-harness.js";
import { startTestServer, type TestServer } from "../../server/testing/test-server.js";

let srv: TestServer;
let tmp = "";
let system = "";
const started: BuilderProcess[] = [];

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "flox-builder-cli-"));
  srv = await startTestServer();
  system = await serverSystem(srv.dataDir);
});

test.after(async () => {
  for (const b of started) await b.stop("SIGKILL");
  await srv?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function builder(name: string, token: string, url = srv.url): BuilderProcess {
  const b = startBuilderProcess({ url }, { name, token, store: join(tmp, `store-${name}`), system });
  started.push(b);
  return b;
}

/** The exit code, waiting (generously) for the process to end by itself. */
async function exitOf(b: BuilderProcess): Promise<number | null> {
  await waitFor(`${b.name} to exit`, () => b.child.exitCode !== null || b.child.signalCode !== null, {
    timeoutMs: 60_000,
    explain: () => b.log(),
  });
  return b.child.exitCode;
}

test("a builder whose token the server does not know exits 1 and says how to make a builder token", async () => {
  const b = builder("unknown", `flox_${"x".repeat(43)}`);
  assert.is(await exitOf(b), 1, b.log());
  assert.match(b.log(), `the server ${srv.url} refused this token (HTTP 401`);
  assert.match(b.log(), "flox token create --builder");
  assert.not.match(b.log(), /retrying/);
});

test("a builder given a token that is not a builder token exits 1 with the server's reason", async () => {
  assert.is((await srv.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  const t = await srv.api("POST", "/api/v1/tokens", { scope: "org", org: "acme", role: "reader", name: "r" });
  assert.is(t.status, 201, JSON.stringify(t.body));
  const b = builder("reader", t.body.secret);
  assert.is(await exitOf(b), 1, b.log());
  assert.match(b.log(), `the server ${srv.url} refused this token (HTTP 403`);
  assert.match(b.log(), /needs a builder token/);
});

test("a builder whose token is revoked while it polls exits 1", async () => {
  const t = await srv.api("POST", "/api/v1/tokens", { scope: "builder", name: "soon-revoked" });
  assert.is(t.status, 201, JSON.stringify(t.body));
  const b = builder("revoked", t.body.secret);
  await waitFor("the builder to call in", async () => {
    const r = await srv.api("GET", "/api/v1/builders");
    return r.body.builders?.some((x: { name: string }) => x.name === "revoked");
  });
  assert.is(b.child.exitCode, null, b.log());
  assert.is((await srv.api("DELETE", `/api/v1/tokens/${t.body.token.id}`)).status < 300, true);
  assert.is(await exitOf(b), 1, b.log());
  assert.match(b.log(), /refused this token \(HTTP 401/);
});

test("a builder keeps retrying while the server cannot be reached", async () => {
  // A port that was free a moment ago: connections are refused, as from a server that is down.
  const port = await new Promise<number>((done) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => done(p));
    });
  });
  const b = builder("unreachable", `flox_${"y".repeat(43)}`, `http://127.0.0.1:${port}`);
  await waitFor("two retries", () => (b.log().match(/retrying/g)?.length ?? 0) >= 2, {
    timeoutMs: 60_000,
    explain: () => b.log(),
  });
  assert.is(b.child.exitCode, null, b.log());
  await b.stop("SIGTERM");
  assert.is(b.child.exitCode, 0, b.log());
});

test.run();
