/**
 * docs/deploy/nginx.conf, run as the deployment page says (`nginx -p PREFIX -c CONF`), with only its addresses
 * changed: the first upstream a real `flox server`, the second a port nobody listens on. nginx must parse it, route
 * every request to the live server past the dead one, pass NAR uploads of any size, and cache NARs and narinfos.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { projectRoot } from "../lib/project-root.js";
import { runFlox } from "../testing/ci-harness.js";
import { startTestServer, type TestServer } from "../testing/server.js";
import { basic, prepareUpload } from "../testing/storehouse-uploads.js";
import { waitFor } from "../testing/wait-for.js";

let srv: TestServer;
let nginx: ChildProcess | undefined;
let root = "";
let lb = "";

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test.before(async () => {
  root = mkdtempSync(join(tmpdir(), "flox-nginx-deploy-"));
  chmodSync(root, 0o755); // nginx's workers run as an unprivileged user
  mkdirSync(join(root, "tmp"));
  mkdirSync(join(root, "cache"));
  srv = await startTestServer();
  const port = await freePort();
  const dead = await freePort();
  lb = `http://127.0.0.1:${port}`;
  const shipped = readFileSync(join(projectRoot, "docs", "deploy", "nginx.conf"), "utf8");
  const conf = shipped
    .replace("server 127.0.0.1:8081 ", `server 127.0.0.1:${srv.port} `)
    .replace("server 127.0.0.1:8082 ", `server 127.0.0.1:${dead} `)
    .replace("listen 8080;", `listen 127.0.0.1:${port};`);
  assert.is.not(conf, shipped);
  writeFileSync(join(root, "nginx.conf"), conf);
  const check = await execa("nginx", ["-t", "-p", root, "-c", join(root, "nginx.conf")], { reject: false });
  assert.is(check.exitCode, 0, check.stderr);
  nginx = spawn("nginx", ["-p", root, "-c", join(root, "nginx.conf"), "-g", "daemon off;"], {
    stdio: "ignore",
  });
  await waitFor("nginx to answer", async () => (await fetch(`${lb}/api/v1/health`).catch(() => null))?.ok);
});

test.after(async () => {
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((r) => nginx?.once("exit", r));
    nginx.kill("SIGQUIT");
    await exited;
  }
  await srv?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

test("every request reaches the live server, past the dead upstream", async () => {
  for (let i = 0; i < 10; i++) {
    const res = await fetch(`${lb}/api/v1/health`);
    assert.is(res.status, 200, `request ${i}: ${await res.text()}`);
  }
  const cli = await runFlox(lb, srv.adminToken, join(root, "config"), ["--json", "org", "list"]);
  assert.is(cli.exitCode, 0, cli.stderr);
});

test("a NAR upload passes through; NARs and narinfos are cached, a missing narinfo is not", async () => {
  const tok = await srv.api("POST", "/api/v1/tokens", { scope: "builder", name: "nginx" });
  assert.is(tok.status, 201, JSON.stringify(tok.body));
  // 3 MiB: over nginx's default 1 MiB body limit, which the config lifts.
  const u = await prepareUpload("nginx-big", { data: "x".repeat(3 * 1024 * 1024) });
  const missing = await fetch(`${lb}/cache/${u.hash}.narinfo`);
  assert.is(missing.status, 404);
  await missing.body?.cancel();
  for (const [path, body] of [
    [u.info.url, u.file],
    [`${u.hash}.narinfo`, Buffer.from(u.narinfoText)],
  ] as const) {
    const res = await fetch(`${lb}/cache/${path}`, {
      method: "PUT",
      headers: { authorization: basic(tok.body.secret) },
      body,
    });
    assert.ok(res.ok, `PUT ${path}: ${res.status} ${await res.text()}`);
  }
  for (const path of [`${u.hash}.narinfo`, u.info.url]) {
    const first = await fetch(`${lb}/cache/${path}`);
    assert.is(first.status, 200, path);
    const bytes = Buffer.from(await first.arrayBuffer());
    const second = await fetch(`${lb}/cache/${path}`);
    assert.is(second.status, 200, path);
    assert.ok(Buffer.from(await second.arrayBuffer()).equals(bytes), `${path}: the cached copy differs`);
    assert.is(second.headers.get("x-cache-status"), "HIT", path);
  }
  const range = await fetch(`${lb}/cache/${u.info.url}`, { headers: { range: "bytes=100-199" } });
  assert.is(range.status, 206);
  assert.ok(Buffer.from(await range.arrayBuffer()).equals(u.file.subarray(100, 200)));
});

test.run();
