// The push path's design (server/git/hook-routes.ts): the sh hooks hand the push to the real `flox server`, which
// judges and records it in its own process and leaves the gate's jobs to its evaluator; whenever the server does not
// answer as agreed, the compiled hooks do the same in their own process. Real server, real git, stock Nix.
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { listTree, materializeTree } from "../../lib/git-tree.js";
import { evaluatePackages } from "../../lib/nix-eval/index.js";
import { commitAll, ensureCompiledHooks, gitIn, push, workRepoFromFixture } from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";
import { InvalidInputError } from "../errors.js";
import { repoDir } from "../paths.js";
import { GateResults } from "./gate-results.js";
import { quarantineEnv } from "./hook-routes.js";

let srv: TestServer;
let tmp = "";
let counter = 0;

const serverLog = async () => readFile(join(srv.dataDir, "logs", "server.log"), "utf8");
const count = (text: string, msg: string) =>
  text.split("\n").filter((l) => l.includes(`"msg":"${msg}"`)).length;

async function work(): Promise<string> {
  const dir = await workRepoFromFixture("good", join(tmp, `w${++counter}`));
  await writeFile(join(dir, "README.md"), `change ${counter}\n`);
  await commitAll(dir, `change ${counter}`);
  return dir;
}

interface Job {
  attr: string;
  drvPath: string;
}

async function evaluationJobs(sha: string): Promise<Job[]> {
  let jobs: Job[] = [];
  await waitFor(`the evaluation of ${sha.slice(0, 7)}`, async () => {
    const list = await srv.api("GET", "/api/v1/orgs/acme/jobsets/main/evaluations");
    const e = list.body.evaluations?.find((x: { commitSha: string }) => x.commitSha === sha);
    if (e?.state !== "succeeded") return false;
    jobs = (await srv.api("GET", `/api/v1/evaluations/${e.id}`)).body.evaluation.jobs;
    return true;
  });
  return jobs;
}

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-hook-routes-"));
  srv = await startTestServer();
  for (const name of ["acme", "other"]) {
    const org = await srv.api("POST", "/api/v1/orgs", { name });
    assert.is(org.status, 201, JSON.stringify(org.body));
  }
});

test.after(async () => {
  await srv?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test("the server judges and records the push itself, and its evaluator takes the gate's jobs: the ones Nix gives", async () => {
  const dir = await work();
  const head = await gitIn(dir, "rev-parse", "HEAD");
  const before = await serverLog();
  const r = await push(dir, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.remote[0], "checked refs/heads/main: 6 packages evaluate");
  assert.match(r.remote[1] ?? "", /^recorded push #\d+ for refs\/heads\/main$/);
  assert.match(r.remote[2] ?? "", /^evaluation #\d+ of acme\/main at [0-9a-f]{7}: 6 jobs/);
  const jobs = await evaluationJobs(head);
  const after = await serverLog();
  assert.is(count(after, "push gate ran") - count(before, "push gate ran"), 1, "judged in the server");
  assert.is(
    count(after, "the push gate's evaluation taken") - count(before, "the push gate's evaluation taken"),
    1,
  );
  // Every .drv the evaluation recorded is in the server's store, and is what Nix makes of the pushed tree.
  const runFile = JSON.parse(await readFile(join(srv.dataDir, "run", "hooks.json"), "utf8"));
  for (const j of jobs) await readFile(join(runFile.storeRoot, j.drvPath));
  const tree = join(tmp, `tree-${counter}`, "tree"); // the name the gate's and the evaluator's checkouts have
  await mkdir(tree, { recursive: true });
  await materializeTree(await listTree(head, { cwd: dir }), tree, { cwd: dir });
  const fresh = await evaluatePackages(
    {
      repoDir: tree,
      storeRoot: join(tmp, "unused"),
      busyboxDir: runFile.busyboxDir,
      basePath: runFile.basePath ?? undefined,
      system: runFile.system,
    },
    jobs.map((j) => j.attr),
    { instantiate: false },
  );
  assert.equal(
    jobs.map((j) => [j.attr, j.drvPath]).sort(),
    fresh.jobs.map((j) => [j.attr, j.drvPath]).sort(),
  );
});

test("when the server does not answer as agreed, the compiled hooks judge and record the push themselves", async () => {
  const curlConfig = join(srv.dataDir, "run", "hooks.curl");
  const good = await readFile(curlConfig, "utf8");
  // A secret of another server run: the server answers 401 to both hooks.
  await writeFile(curlConfig, 'header = "authorization: Bearer not-this-run"\n');
  try {
    const before = await serverLog();
    const dir = await work();
    const head = await gitIn(dir, "rev-parse", "HEAD");
    const r = await push(dir, srv.gitUrl("acme", srv.adminToken), ["--force", "HEAD:refs/heads/side"]);
    assert.is(r.exitCode, 0, r.stderr);
    assert.is(r.remote[0], "checked refs/heads/side: 6 packages evaluate");
    assert.match(r.remote[1] ?? "", /^recorded push #\d+ for refs\/heads\/side$/);
    const pushes = await srv.api("GET", "/api/v1/orgs/acme/pushes");
    assert.ok(pushes.body.pushes.some((p: { newSha: string }) => p.newSha === head));
    assert.is(
      count(await serverLog(), "push gate ran"),
      count(before, "push gate ran"),
      "not judged in the server",
    );
    // A bad push is refused the same way there.
    await writeFile(join(dir, "pkgs", "Bad Name.nix"), "{\n");
    await commitAll(dir, "bad");
    const bad = await push(dir, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/side"]);
    assert.is(bad.exitCode, 1, bad.stderr);
    assert.match(
      bad.remote.at(-1) ?? "",
      /^push refused: \d+ problems? in refs\/heads\/side at [0-9a-f]{7}; nothing was changed$/,
    );
  } finally {
    await writeFile(curlConfig, good, { mode: 0o600 });
  }
});

test("with the server away, the sh hooks still gate the push and spool its record (nothing is lost)", async () => {
  const run = join(srv.dataDir, "run");
  const saved = await Promise.all(["hooks.url", "hooks.json"].map((f) => readFile(join(run, f), "utf8")));
  const dead = "http://127.0.0.1:9"; // discard: nothing listens
  await writeFile(join(run, "hooks.url"), `${dead}\n`);
  await writeFile(
    join(run, "hooks.json"),
    saved[1]?.replace(/"serverUrl": "[^"]*"/, `"serverUrl": "${dead}"`) ?? "",
  );
  try {
    const dir = await work();
    const head = await gitIn(dir, "rev-parse", "HEAD");
    const r = await push(dir, srv.gitUrl("acme", srv.adminToken), ["-o", "skip-ci", "HEAD:refs/heads/away"]);
    assert.is(r.exitCode, 0, r.stderr);
    assert.is(r.remote[0], "checked refs/heads/away: 6 packages evaluate");
    assert.match(
      r.remote[1] ?? "",
      /^flox: warning: could not hand refs\/heads\/away to the server \(.+\); saved it in .+flox-spool\.jsonl/,
    );
    const spool = await readFile(
      join(repoDir(join(srv.dataDir, "repos"), "acme"), "flox-spool.jsonl"),
      "utf8",
    );
    const line = JSON.parse(spool.trim().split("\n").at(-1) ?? "{}");
    assert.equal([line.ref, line.newSha, line.pushOptions], ["refs/heads/away", head, ["skip-ci"]]);
  } finally {
    await writeFile(join(run, "hooks.url"), saved[0] ?? "", { mode: 0o600 });
    await writeFile(join(run, "hooks.json"), saved[1] ?? "", { mode: 0o600 });
  }
});

test("the pre-receive route judges only a push this server is receiving, in that org's repo", async () => {
  const runFile = JSON.parse(await readFile(join(srv.dataDir, "run", "hooks.json"), "utf8"));
  const res = await fetch(`${runFile.serverUrl}/api/v1/internal/hooks/pre-receive?pid=1`, {
    method: "POST",
    headers: { authorization: `Bearer ${runFile.hookSecret}`, "x-flox-org": "acme" },
    body: `${"0".repeat(40)} ${"1".repeat(40)} refs/heads/main\npush-options\n`,
  });
  assert.is(res.status, 404, await res.text());
  const noSecret = await fetch(`${runFile.serverUrl}/api/v1/internal/hooks/post-receive`, {
    method: "POST",
    headers: { "x-flox-org": "acme" },
    body: "push-options\n",
  });
  assert.is(noSecret.status, 401);

  // The quarantine must be receive-pack's own directory in the org's repo: not elsewhere, not another org's.
  const acme = repoDir(join(srv.dataDir, "repos"), "acme");
  const other = repoDir(join(srv.dataDir, "repos"), "other");
  const own = join(acme, "objects", "tmp_objdir-incoming-test");
  await mkdir(own);
  try {
    assert.equal(await quarantineEnv(acme, own), {
      GIT_QUARANTINE_PATH: own,
      GIT_OBJECT_DIRECTORY: own,
      GIT_ALTERNATE_OBJECT_DIRECTORIES: join(acme, "objects"),
    });
    assert.equal(await quarantineEnv(acme, undefined), {});
    const refused = async (path: string) => {
      const err = await quarantineEnv(other, path).catch((e: unknown) => e);
      assert.instance(err, InvalidInputError, path);
    };
    await refused(own); // acme's quarantine, for a push to other
    await refused(join(other, "objects"));
    await refused(tmp);
    const link = join(other, "objects", "tmp_objdir-incoming-link");
    await symlink(own, link);
    await refused(link); // a link in other's repo to acme's directory
  } finally {
    await execa("rm", ["-rf", own, join(other, "objects", "tmp_objdir-incoming-link")]);
  }
});

test("gate results: kept per org, the newest few", () => {
  const results = new GateResults(50);
  const jobs = [{ attr: "a", name: "a", system: "x", drvPath: "/nix/store/x-a.drv", outputs: {} }];
  results.put("acme", "t1", { jobs, packages: ["a"] });
  assert.equal(results.get("acme", "t1"), { jobs, packages: ["a"] });
  assert.is(results.get("other", "t1"), undefined);
  assert.is(results.get("acme", "t2"), undefined);
  const small = new GateResults(60_000, 2);
  for (const t of ["t1", "t2", "t3"]) small.put("acme", t, { jobs, packages: ["a"] });
  assert.is(small.get("acme", "t1"), undefined);
  assert.ok(small.get("acme", "t3"));
});

test.run();
