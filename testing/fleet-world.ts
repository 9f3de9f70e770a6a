// Tests of the fleet pages share this world: a real server with orgs acme and secret, a builder, dep-chain pushed
// and published as channel acme, profile acme/dev with two generations, and three machines reporting.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import * as assert from "uvu/assert";
import { type BuilderProcess, serverSystem, startBuilderProcess } from "./builder.js";
import { latestEvaluationId, waitForChannelAt } from "./ci-harness.js";
import { commitAll, ensureCompiledHooks, push, workRepoFromFixture } from "./repos.js";
import { startTestServer, type TestServer, type TestServerOptions } from "./server.js";

/** Markup a hostile user might put in a commit message or a reason: pages must show it as text. */
export const HOSTILE = `<img src=x onerror="document.title='pwned'"><b>bold</b>`;

export interface FleetWorld {
  srv: TestServer;
  builder: BuilderProcess;
  /** The work repo pushed to acme (dep-chain and what addPackage added). */
  work: string;
  /** Token secrets: alice (acme member), reader (acme reader), outsider (secret owner), machines web-1, web-2, db-1. */
  tok(name: string): string;
  /** Commits everything in the work repo and pushes it to acme's main; the new evaluation's id. */
  pushAll(message: string): Promise<number>;
  /** Adds package `name` to the work repo: a runCommand of `script` (default: an empty output). */
  addPackage(name: string, script?: string): Promise<void>;
  waitChannel(evaluation: number): Promise<void>;
  /** GET /api/v1<path> with `token`, asserting 200. */
  // biome-ignore lint/suspicious/noExplicitAny: test code reads answers of every shape, checked by assertions
  api(path: string, token: string): Promise<any>;
  stop(): Promise<void>;
}

export async function startFleetWorld(name: string, server: TestServerOptions = {}): Promise<FleetWorld> {
  await ensureCompiledHooks();
  const tmp = await mkdtemp(join(tmpdir(), `flox-${name}-`));
  const srv = await startTestServer(server);
  const tokens: Record<string, string> = {};
  const tok = (n: string) => tokens[n] ?? "";
  const token = async (n: string, body: object) => {
    const r = await srv.api("POST", "/api/v1/tokens", { name: n, ...body });
    assert.is(r.status, 201, JSON.stringify(r.body));
    tokens[n] = r.body.secret;
  };
  for (const org of ["acme", "secret"]) {
    assert.is((await srv.api("POST", "/api/v1/orgs", { name: org })).status, 201);
  }
  await token("alice", { scope: "org", org: "acme", role: "member" });
  await token("reader", { scope: "org", org: "acme", role: "reader" });
  await token("outsider", { scope: "org", org: "secret", role: "owner" });
  await token("b", { scope: "builder" });
  for (const m of ["web-1", "web-2", "db-1"]) await token(m, { scope: "machine", org: "acme" });
  const builder = startBuilderProcess(srv, {
    name: "b1",
    token: tok("b"),
    store: join(tmp, "store-b1"),
    system: await serverSystem(srv.dataDir),
  });
  const work = await workRepoFromFixture("dep-chain", tmp);
  const pushAll = async (message: string) => {
    await commitAll(work, message);
    const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
    assert.is(r.exitCode, 0, r.stderr);
    return latestEvaluationId(srv, "acme");
  };
  const waitChannel = (evaluation: number) => waitForChannelAt(srv, "acme", evaluation, () => builder.log());
  const world: FleetWorld = {
    srv,
    builder,
    work,
    tok,
    pushAll,
    waitChannel,
    async addPackage(pkg, script = "mkdir $out") {
      await mkdir(join(work, "pkgs", pkg), { recursive: true });
      await writeFile(
        join(work, "pkgs", pkg, "default.nix"),
        `{ runCommand }:\n\nrunCommand "${pkg}" { } "${script}"\n`,
      );
    },
    async api(path, t) {
      const r = await srv.api("GET", `/api/v1${path}`, undefined, t);
      assert.is(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
      return r.body;
    },
    async stop() {
      await builder.stop();
      await srv.stop();
      await execa("chmod", ["-R", "u+w", tmp], { reject: false });
      await rm(tmp, { recursive: true, force: true });
    },
  };
  await waitChannel(await pushAll(`first: a, b, c ${HOSTILE}`));

  // Profile acme/dev: generation 1 has c, generation 2 adds b.
  const member = (method: string, path: string, body?: unknown) => srv.api(method, path, body, tok("alice"));
  assert.is((await member("POST", "/api/v1/orgs/acme/profiles", { name: "dev" })).status, 201);
  const g1 = await member("POST", "/api/v1/profiles/acme/dev/install", {
    refs: ["acme#c"],
    reason: "c for all",
  });
  assert.is(g1.status, 200, JSON.stringify(g1.body));
  const g2 = await member("POST", "/api/v1/profiles/acme/dev/install", {
    refs: ["acme#b"],
    host: "alice-laptop",
    command: "flox profile install acme/dev acme#b",
    reason: `b too ${HOSTILE}`,
  });
  assert.is(g2.body.generation?.number, 2, JSON.stringify(g2.body));
  // Machines: two on generation 2, one still on 1.
  for (const [m, gen] of [
    ["web-1", 2],
    ["web-2", 2],
    ["db-1", 1],
  ] as const) {
    const as = (method: string, path: string, body?: unknown) => srv.api(method, path, body, tok(m));
    assert.is((await as("POST", "/api/v1/machines", { name: m })).status, 201);
    assert.is((await as("POST", "/api/v1/machines/me/subscriptions", { profile: "acme/dev" })).status, 201);
    assert.is((await as("POST", "/api/v1/machines/me/subscriptions", { channel: "acme" })).status, 201);
    const r = await as("POST", "/api/v1/machines/me/reports", {
      profile: "acme/dev",
      generation: gen,
      status: "ok",
    });
    assert.is(r.status, 204, JSON.stringify(r.body));
  }
  return world;
}
