/**
 * `flox builder` as an operator starts it, against a real `flox server`: what it does with a refused token and with
 * a store it must not take. No builds run here (builders.test.ts builds).
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type BuilderProcess, serverSystem, startBuilderProcess } from "../../testing/builder.js";
import { runFlox } from "../../testing/ci-harness.js";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";

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

function builder(
  name: string,
  token: string,
  url = srv.url,
  opts: { store?: string; args?: string[] } = {},
): BuilderProcess {
  const b = startBuilderProcess(
    { url },
    { name, token, store: opts.store ?? join(tmp, `store-${name}`), system, args: opts.args ?? [] },
  );
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

/** `flox builder --store STORE` as a user types it; it must refuse before doing anything. */
async function refusedStore(store: string, why: RegExp): Promise<void> {
  const t = await srv.api("POST", "/api/v1/tokens", { scope: "builder", name: "store-check" });
  const r = await runFlox(srv.url, t.body.secret, tmp, [
    "builder",
    "--store",
    store,
    "--systems",
    system,
    "--name",
    "store-check",
  ]);
  assert.is(r.exitCode, 2, `${r.stdout}${r.stderr}`);
  assert.match(r.stderr, why);
  assert.match(r.stderr, /--allow-host-store/);
  const builders = await srv.api("GET", "/api/v1/builders");
  assert.not.ok(builders.body.builders.some((x: { name: string }) => x.name === "store-check"));
}

test("flox builder --store / is refused with a usage error", async () => {
  await refusedStore("/", /--store \/: \/ is the root of this host/);
  await refusedStore("/.", /is the root of this host/);
});

test("a --store that is the root through a symlink is refused", async () => {
  await symlink("/", join(tmp, "root-link"));
  await refusedStore(join(tmp, "root-link"), /\(really \/\) is the root of this host/);
  await refusedStore(`${join(tmp, "root-link")}/`, /is the root of this host/);
});

test("a --store that holds or is inside the host's /nix/store is refused", async () => {
  if (!existsSync("/nix/store")) return; // no host store to protect on this machine
  await refusedStore("/nix", /\/nix holds the host's own store \/nix\/store/);
  await refusedStore("/nix/store/flox-builder", /is inside the host's own store/);
});

test("a --store inside the server's data dir is refused", async () => {
  await refusedStore(join(srv.dataDir, "nix-root"), /inside the flox server data dir/);
  await refusedStore(srv.dataDir, /inside the flox server data dir/);
  await refusedStore(join(srv.dataDir, "store", "b1"), /inside the flox server data dir/);
});

test("--allow-host-store lets an operator take such a store on purpose", async () => {
  const fake = join(tmp, "old-data-dir");
  await mkdir(join(fake, "nix-root"), { recursive: true });
  await writeFile(join(fake, "db.sqlite"), "");
  const t = await srv.api("POST", "/api/v1/tokens", { scope: "builder", name: "allowed" });
  const b = builder("allowed", t.body.secret, srv.url, {
    store: join(fake, "nix-root"),
    args: ["--allow-host-store"],
  });
  await waitFor("the builder to call in", async () => {
    const r = await srv.api("GET", "/api/v1/builders");
    return r.body.builders?.some((x: { name: string }) => x.name === "allowed");
  });
  await b.stop("SIGTERM");
  assert.ok(existsSync(join(fake, "nix-root", ".flox-builder", "etc", "nix.conf")));
});

test.run();
