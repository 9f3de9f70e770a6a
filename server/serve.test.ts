// `flox server` as a process: data dir layout, run file, admin token, restart behaviour, graceful stop.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { HookRunFile } from "../lib/api/internal.js";
import { PushesResponse } from "../lib/api/pushes.js";
import { CreateTokenResponse, WhoamiResponse } from "../lib/api/tokens.js";
import { projectRoot } from "../lib/project-root.js";
import { testingOnPostgres } from "../testing/postgres.js";
import { runGit } from "../testing/repos.js";
import { startTestServer } from "../testing/server.js";

const scratch = () => mkdtempSync(join(tmpdir(), "flox-serve-test-"));

test("a fresh start lays out the data dir, writes the run file and logs to a file", async () => {
  const server = await startTestServer();
  try {
    // On PostgreSQL (FLOX_TEST_DATABASE=postgres) the state is in its database, not in db.sqlite.
    const db = testingOnPostgres() ? [] : ["db.sqlite"];
    for (const p of [...db, "repos", "nix-root", "busybox", "logs/server.log", "run/hooks.json"]) {
      assert.ok(existsSync(join(server.dataDir, p)), p);
    }
    const runFile = join(server.dataDir, "run", "hooks.json");
    assert.is(statSync(runFile).mode & 0o777, 0o600);
    const run = HookRunFile.parse(JSON.parse(readFileSync(runFile, "utf8")));
    assert.is(run.serverUrl, server.url);
    assert.is(run.maxFileSize, 10 * 1024 * 1024);
    assert.is(run.storeRoot, join(server.dataDir, "nix-root"));
    assert.is(run.busyboxDir, join(server.dataDir, "busybox"));
    assert.is(run.basePath, null);
    assert.match(run.system, /-linux$|-darwin$/);
    assert.ok(run.hookSecret.length >= 32);
    // The hook secret opens the internal endpoint; admin tokens do not.
    await server.api("POST", "/api/v1/orgs", { name: "acme" });
    const body = { org: "acme", ref: "refs/heads/main", oldSha: "0".repeat(40), newSha: "a".repeat(40) };
    assert.is((await server.api("POST", "/api/v1/internal/pushes", body)).status, 401);
    assert.is((await server.api("POST", "/api/v1/internal/pushes", body, run.hookSecret)).status, 201);

    assert.match(readFileSync(join(server.dataDir, "logs", "server.log"), "utf8"), /flox server listening/);
    const health = await server.api("GET", "/api/v1/health", undefined, null);
    assert.equal(health.body.ok, true);
    const missing = await server.api("GET", "/api/v1/missing");
    assert.is(missing.status, 404);
    assert.is(missing.body.error.code, "not_found");
  } finally {
    assert.is(await server.stop(), 0, "SIGTERM ends the server cleanly");
  }
});

test("--max-file-size, --base and the repo and memory limits (flag or env) reach the run file", async () => {
  const base = scratch();
  const server = await startTestServer({
    args: ["--max-file-size", "1234", "--base", base, "--max-repo-files", "500", "--eval-memory", "1G"],
    env: { FLOX_MAX_REPO_SIZE: "20M", FLOX_EVAL_MEMORY: "3G" },
  });
  try {
    const run = HookRunFile.parse(
      JSON.parse(readFileSync(join(server.dataDir, "run", "hooks.json"), "utf8")),
    );
    assert.is(run.maxFileSize, 1234);
    assert.is(run.basePath, base);
    assert.is(run.maxRepoFiles, 500);
    assert.is(run.maxRepoBytes, 20 * 1024 ** 2);
    assert.is(run.evalMemoryBytes, 1024 ** 3, "the flag wins over the environment");
  } finally {
    await server.stop();
    rmSync(base, { recursive: true, force: true });
  }
});

test("bad options stop the server with a message and exit code 2", async () => {
  for (const args of [
    ["--max-file-size", "lots"],
    ["--base", "/nonexistent/nixpkgs"],
    ["--max-repo-files", "many"],
    ["--max-repo-size", "big"],
    ["--eval-memory", "10M"],
  ]) {
    const err = await startTestServer({ args }).then(
      (s) => s.stop().then(() => undefined),
      (e: Error) => e,
    );
    assert.ok(err, `${args.join(" ")} was accepted`);
    assert.match(String(err), /exited with 2/);
    assert.match(String(err), new RegExp(args[0] ?? ""));
  }
});

test("without an admin token one is generated once, printed to stderr only", async () => {
  const dataDir = scratch();
  try {
    const first = await startTestServer({ dataDir, adminToken: null });
    // stderr and stdout are separate pipes: the token may arrive just after the URL line.
    for (let i = 0; i < 100 && !/flox_\S{43}/.test(first.stderr()); i++) await sleep(20);
    const secret = /flox_[A-Za-z0-9_-]{43}/.exec(first.stderr())?.[0];
    assert.ok(secret, `no token in stderr: ${first.stderr()}`);
    const who = await first.api("GET", "/api/v1/whoami", undefined, secret);
    assert.is(WhoamiResponse.parse(who.body).token.scope, "admin");
    await first.stop();

    const second = await startTestServer({ dataDir, adminToken: null });
    assert.not.match(second.stderr(), /flox_/);
    assert.is((await second.api("GET", "/api/v1/whoami", undefined, secret)).status, 200);
    await second.stop();

    const fromEnv = await startTestServer({
      dataDir,
      adminToken: null,
      env: { FLOX_ADMIN_TOKEN: "env-admin-secret-123456" },
    });
    const envWho = await fromEnv.api("GET", "/api/v1/whoami", undefined, "env-admin-secret-123456");
    assert.is(WhoamiResponse.parse(envWho.body).token.scope, "admin");
    await fromEnv.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("restarts reinstall hooks and record refs that moved without a push record", async () => {
  const dataDir = scratch();
  const work = scratch();
  try {
    let server = await startTestServer({ dataDir });
    assert.is((await server.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
    const made = await server.api("POST", "/api/v1/tokens", { scope: "org", org: "acme", role: "reader" });
    const reader = CreateTokenResponse.parse(made.body).secret;
    await server.stop();

    // A ref update the server never heard of (as if it died between the ref update and post-receive).
    const bare = join(dataDir, "repos", "acme", "nixexprs.git");
    const local = join(work, "local");
    assert.is((await runGit(["init", "-q", "-b", "main", local], work)).exitCode, 0);
    writeFileSync(join(local, "README.md"), "# acme\n");
    await runGit(["add", "README.md"], local);
    await runGit(["commit", "-qm", "first"], local);
    const head = (await runGit(["rev-parse", "HEAD"], local)).stdout.trim();
    assert.is(
      (await runGit(["--git-dir", bare, "fetch", "-q", local, "main:main", "main:dev"], work)).exitCode,
      0,
    );
    const hook = join(bare, "hooks", "pre-receive");
    writeFileSync(hook, "#!/bin/sh\nexit 1\n");
    // The hook could hand main's update over to no server, so it spooled it (a torn line follows).
    const spooledAt = "2020-01-02T03:04:05.678Z";
    const spooled = {
      org: "acme",
      ref: "refs/heads/main",
      oldSha: "0".repeat(40),
      newSha: head,
      pushOptions: ["wait"],
    };
    writeFileSync(
      join(bare, "flox-spool.jsonl"),
      `${JSON.stringify({ ...spooled, spooledAt, error: "down" })}\n{"org":`,
    );

    server = await startTestServer({ dataDir });
    assert.match(readFileSync(hook, "utf8"), /dist\/hooks\/pre-receive\.js/);
    assert.match(readFileSync(hook, "utf8"), new RegExp(projectRoot.replaceAll("/", "\\/")));
    const config = await runGit(["--git-dir", bare, "config", "flox.runFile"], work);
    assert.is(config.stdout.trim(), join(dataDir, "run", "hooks.json"));
    assert.not.ok(existsSync(join(bare, "flox-spool.jsonl")), "the spool is taken in");

    const pushes = PushesResponse.parse((await server.api("GET", "/api/v1/orgs/acme/pushes")).body).pushes;
    assert.equal(
      pushes.map((p) => ({
        ref: p.ref,
        oldSha: p.oldSha,
        newSha: p.newSha,
        source: p.source,
        opts: p.pushOptions,
      })),
      [
        { ref: "refs/heads/dev", oldSha: "0".repeat(40), newSha: head, source: "reconciled", opts: [] },
        { ref: "refs/heads/main", oldSha: "0".repeat(40), newSha: head, source: "hook", opts: ["wait"] },
      ],
    );
    assert.is(pushes[1]?.receivedAt, spooledAt);

    // The now non-empty repo clones over protocol v2 and v0 alike, on branch main.
    for (const version of ["2", "0"]) {
      const dir = `clone-v${version}`;
      const r = await runGit(
        ["-c", `protocol.version=${version}`, "clone", server.gitUrl("acme", reader), dir],
        work,
      );
      assert.is(r.exitCode, 0, r.stderr);
      assert.is((await runGit(["rev-parse", "HEAD"], join(work, dir))).stdout.trim(), head);
      assert.is((await runGit(["symbolic-ref", "HEAD"], join(work, dir))).stdout.trim(), "refs/heads/main");
    }
    await server.stop();

    server = await startTestServer({ dataDir });
    const again = PushesResponse.parse((await server.api("GET", "/api/v1/orgs/acme/pushes")).body).pushes;
    assert.is(again.length, 2, "a second start records nothing new");
    await server.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
});

test.run();
