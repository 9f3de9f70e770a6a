/**
 * Evaluations end to end: real `flox server`, real `git push` of fixture repos, the post-receive hook's
 * lines, the API and the CLI, and a server killed mid-evaluation. Needs dist/ (npm test builds it).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { projectRoot } from "../../lib/project-root.js";
import { queryDb } from "../../testing/ci-harness.js";
import { removeTree } from "../../testing/remove-tree.js";
import { commitAll, ensureCompiledHooks, gitIn, push, workRepoFromFixture } from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";

let srv: TestServer;
let tmp = "";
let url = "";
let counter = 0;

async function fixture(name: string): Promise<string> {
  return workRepoFromFixture(name, join(tmp, `w${++counter}`));
}

/** `evaluation #N of ORG/BRANCH at SHA: SUMMARY — URL` → N and SUMMARY, checking the rest. */
function evaluationLine(
  lines: string[],
  org: string,
  branch: string,
  sha: string,
): { id: number; summary: string } {
  const re = new RegExp(
    `^evaluation #(\\d+) of ${org}/${branch} at ${sha.slice(0, 7)}: (.+) — (http://\\S+)$`,
  );
  const hit = lines.map((l) => re.exec(l)).find((m) => m);
  assert.ok(hit, `no evaluation line for ${org}/${branch} in:\n${lines.join("\n")}`);
  const id = Number(hit?.[1]);
  assert.is(hit?.[3], `${srv.url}/api/v1/evaluations/${id}`);
  return { id, summary: hit?.[2] ?? "" };
}

/** Reads the server's database directly (SQLite's WAL or PostgreSQL: safe beside the running server). */
function query<T>(sql: string, ...params: unknown[]): T[] {
  return queryDb<T>(srv.dataDir, sql, ...params);
}

async function flox(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await execa(process.execPath, [join(projectRoot, "cli", "bin", "flox"), ...args], {
    reject: false,
    stdin: "ignore",
    env: { FLOX_SERVER: srv.url, FLOX_TOKEN: srv.adminToken, NO_COLOR: "1", HOME: tmp, XDG_CONFIG_HOME: tmp },
    timeout: 30_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-evaluations-"));
  srv = await startTestServer();
  const org = await srv.api("POST", "/api/v1/orgs", { name: "acme" });
  assert.is(org.status, 201, JSON.stringify(org.body));
  url = srv.gitUrl("acme", srv.adminToken);
});

test.after(async () => {
  await srv?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

let mainEval = 0;
let chainWork = "";

test("a push of a dependency chain prints its evaluation; builds wait on each other a → b → c", async () => {
  chainWork = await fixture("dep-chain");
  const head = await gitIn(chainWork, "rev-parse", "HEAD");
  const r = await push(chainWork, url, ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.remote[1] ?? "", /^recorded push #\d+ for refs\/heads\/main$/);
  const line = evaluationLine(r.remote, "acme", "main", head);
  assert.is(line.summary, "3 jobs, 3 to build, 0 already built");
  mainEval = line.id;

  const e = await srv.api("GET", `/api/v1/evaluations/${mainEval}`);
  assert.is(e.status, 200, JSON.stringify(e.body));
  assert.is(e.body.evaluation.state, "succeeded");
  assert.equal(
    e.body.evaluation.jobs.map((j: { attr: string; name: string; build: { state: string } }) => [
      j.attr,
      j.name,
      j.build.state,
    ]),
    [
      ["a", "a", "queued"],
      ["b", "b", "queued"],
      ["c", "c", "queued"],
    ],
  );
  assert.equal(e.body.evaluation.comparison.previous, null);
  const id = Object.fromEntries(
    e.body.evaluation.jobs.map((j: { attr: string; build: { id: number } }) => [j.attr, j.build.id]),
  );
  const deps = query<{ b: number; d: number }>(
    "select build_id as b, depends_on as d from build_deps where build_id in (?, ?, ?) order by b",
    id.a,
    id.b,
    id.c,
  );
  assert.equal(
    deps.map((x) => [x.b, x.d]),
    [
      [id.a, id.b],
      [id.b, id.c],
    ].sort((x, y) => (x[0] ?? 0) - (y[0] ?? 0)),
  );
  // Each .drv was written into the server's chroot store.
  for (const j of e.body.evaluation.jobs) {
    assert.ok(
      query("select 1 from builds where drv_path = ?", j.drvPath).length === 1,
      `one build row for ${j.drvPath}`,
    );
  }
  // The evaluator put each queued .drv (and its closure) in the Storehouse before any builder asked for it.
  for (const j of e.body.evaluation.jobs as Array<{ drvPath: string }>) {
    const hash = j.drvPath.slice("/nix/store/".length, "/nix/store/".length + 32);
    const until = Date.now() + 30_000;
    let status = 0;
    while (Date.now() < until) {
      status = (await fetch(`${srv.url}/cache/${hash}.narinfo`)).status;
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.is(status, 200, `${j.drvPath} is in the Storehouse`);
  }
});

test("the same tree on another branch shares the queued builds instead of queueing them again", async () => {
  const head = await gitIn(chainWork, "rev-parse", "HEAD");
  const r = await push(chainWork, url, ["HEAD:refs/heads/other"]);
  assert.is(r.exitCode, 0, r.stderr);
  const line = evaluationLine(r.remote, "acme", "other", head);
  assert.is(line.summary, "3 jobs, 0 to build, 3 already queued, 0 already built");
  const buildIds = async (n: number) =>
    (await srv.api("GET", `/api/v1/evaluations/${n}`)).body.evaluation.jobs.map(
      (j: { build: { id: number } }) => j.build.id,
    );
  assert.equal(await buildIds(line.id), await buildIds(mainEval));
  assert.is(query("select id from builds").length, 3);
});

test("-o skip-ci: the push says so and the evaluation is skipped", async () => {
  await writeFile(join(chainWork, "README.md"), "# chain\n");
  const head = await commitAll(chainWork, "readme");
  const r = await push(chainWork, url, ["-o", "skip-ci", "HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.ok(r.remote.includes("CI skipped (-o skip-ci)"), r.remote.join("\n"));
  assert.not.ok(
    r.remote.some((l) => l.startsWith("evaluation #")),
    r.remote.join("\n"),
  );
  const evals = await srv.api("GET", "/api/v1/orgs/acme/jobsets/main/evaluations");
  assert.is(evals.status, 200);
  const mine = evals.body.evaluations.find((e: { commitSha: string }) => e.commitSha === head);
  assert.is(mine?.state, "skipped");
  assert.ok(mine?.finishedAt);
});

test("tags and deletions are no evaluations", async () => {
  const before = query("select id from evaluations").length;
  await gitIn(chainWork, "tag", "v1");
  const tag = await push(chainWork, url, ["refs/tags/v1"]);
  assert.is(tag.exitCode, 0, tag.stderr);
  const del = await push(chainWork, url, [":refs/heads/other"]);
  assert.is(del.exitCode, 0, del.stderr);
  assert.not.ok([...tag.remote, ...del.remote].some((l) => /^(evaluation #|CI skipped)/.test(l)));
  assert.is(query("select id from evaluations").length, before);
});

test("the comparison names the package removed and the one added", async () => {
  await rm(join(chainWork, "pkgs", "a"), { recursive: true });
  await execa("mkdir", ["-p", join(chainWork, "pkgs", "d")]);
  await writeFile(
    join(chainWork, "pkgs", "d", "default.nix"),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Nix antiquotation
    '{ writeShellScriptBin, c }:\nwriteShellScriptBin "d" "cat ${c}/share/c.txt"\n',
  );
  const head = await commitAll(chainWork, "a out, d in");
  const r = await push(chainWork, url, ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  const line = evaluationLine(r.remote, "acme", "main", head);
  // b and c are the builds the first evaluation queued; d is new.
  assert.is(line.summary, "3 jobs, 1 to build, 2 already queued, 0 already built");
  const e = await srv.api("GET", `/api/v1/evaluations/${line.id}`);
  assert.equal(e.body.evaluation.comparison, {
    previous: mainEval,
    new: ["d"],
    removed: ["a"],
    newlyFailed: [],
    fixed: [],
    stillFailing: [],
  });

  const jobsets = await srv.api("GET", "/api/v1/orgs/acme/jobsets");
  assert.equal(
    jobsets.body.jobsets.map((j: { branch: string; latest: { id: number } | null }) => [
      j.branch,
      j.latest?.id,
    ]),
    [
      ["main", line.id],
      ["other", line.id - 2],
    ],
  );

  const cli = await flox(["eval", String(line.id)]);
  assert.is(cli.exitCode, 0, cli.stderr);
  assert.match(cli.stdout, `evaluation #${line.id} of acme/main at ${head.slice(0, 7)}`);
  assert.match(cli.stdout, /^d\s+d\s+\S+\s+#\d+\s+queued$/m);
  assert.match(cli.stdout, `compared with evaluation #${mainEval}:`);
  assert.match(cli.stdout, /^ {2}new: d$/m);
  assert.match(cli.stdout, /^ {2}removed: a$/m);
  const cliJson = await flox(["eval", String(line.id), "--json"]);
  assert.equal(JSON.parse(cliJson.stdout).evaluation.comparison.new, ["d"]);
  const evals = await flox(["evals", "acme/main"]);
  assert.is(evals.exitCode, 0, evals.stderr);
  assert.match(evals.stdout, `#${line.id}`);
  assert.match(evals.stdout, "skipped (-o skip-ci)");
  const sets = await flox(["jobsets", "acme", "--json"]);
  assert.is(JSON.parse(sets.stdout).jobsets.length, 2);
});

test("readers of the org may read evaluations; others may not", async () => {
  const reader = await srv.api("POST", "/api/v1/tokens", { scope: "org", org: "acme", role: "reader" });
  await srv.api("POST", "/api/v1/orgs", { name: "elsewhere" });
  const outsider = await srv.api("POST", "/api/v1/tokens", { scope: "org", org: "elsewhere", role: "owner" });
  assert.is(
    (await srv.api("GET", `/api/v1/evaluations/${mainEval}`, undefined, reader.body.secret)).status,
    200,
  );
  assert.is((await srv.api("GET", "/api/v1/orgs/acme/jobsets", undefined, reader.body.secret)).status, 200);
  // An outsider gets exactly what a missing evaluation gets: it cannot even learn which org it belongs to.
  const hidden = await srv.api("GET", `/api/v1/evaluations/${mainEval}`, undefined, outsider.body.secret);
  const missing = await srv.api("GET", "/api/v1/evaluations/999999", undefined, outsider.body.secret);
  assert.is(hidden.status, 404);
  assert.equal(hidden.body, JSON.parse(JSON.stringify(missing.body).replace("999999", String(mainEval))));
  assert.is((await srv.api("GET", "/api/v1/evaluations/999999")).status, 404);
  assert.is((await srv.api("GET", "/api/v1/orgs/acme/jobsets/nope/evaluations")).status, 404);
  assert.is((await srv.api("GET", `/api/v1/internal/pushes/1/evaluation`)).status, 401);
});

test("a server killed mid-evaluation finishes it after restart, exactly once", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "flox-evaluations-crash-"));
  let crashy: TestServer | undefined;
  let again: TestServer | undefined;
  try {
    crashy = await startTestServer({ dataDir, env: { FLOX_TEST_EVAL_DELAY_MS: "60000" } });
    await crashy.api("POST", "/api/v1/orgs", { name: "acme" });
    const work = await fixture("dep-chain");
    const head = await gitIn(work, "rev-parse", "HEAD");
    // The hook waits for the evaluation, which waits a minute: the push is still open when the server dies.
    const pushing = push(work, crashy.gitUrl("acme", crashy.adminToken), ["HEAD:refs/heads/main"]);
    const running = async (s: TestServer) => {
      for (let i = 0; i < 300; i++) {
        const r = await s.api("GET", "/api/v1/orgs/acme/jobsets/main/evaluations").catch(() => undefined);
        const e = r?.body?.evaluations?.[0];
        if (e && e.state !== "queued") return e;
        await new Promise((done) => setTimeout(done, 100));
      }
      throw new Error("no evaluation started");
    };
    const started = await running(crashy);
    assert.is(started.state, "running");
    crashy.process.kill("SIGKILL");
    await crashy.stop();
    await pushing;

    again = await startTestServer({ dataDir });
    const s = again;
    let done: { id: number; state: string; counts: { jobs: number; newBuilds: number } } | undefined;
    for (let i = 0; i < 300 && done?.state !== "succeeded"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      done = (await s.api("GET", "/api/v1/orgs/acme/jobsets/main/evaluations")).body.evaluations[0];
    }
    assert.is(done?.state, "succeeded");
    assert.is(done?.id, started.id);
    assert.is(done?.counts.jobs, 3);
    assert.is(done?.counts.newBuilds, 3);
    const all = (await s.api("GET", "/api/v1/orgs/acme/jobsets/main/evaluations")).body.evaluations;
    assert.equal(
      all.map((e: { commitSha: string }) => e.commitSha),
      [head],
    );
    const count = (table: string) =>
      Number(queryDb<{ n: number }>(dataDir, `select count(*) as n from ${table}`)[0]?.n);
    assert.is(count("evaluations"), 1);
    assert.is(count("eval_jobs"), 3);
    assert.is(count("builds"), 3);
    assert.is(count("build_deps"), 2);
  } finally {
    await crashy?.stop();
    await again?.stop();
    await removeTree(dataDir);
  }
});

test.run();
