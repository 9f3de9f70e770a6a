/**
 * The limits on what a push may make the server do (issue 11, findings 2 and 8), against a real `flox server`:
 * repo size and file count at the gate, a memory limit on every nix-instantiate (gate and evaluator), a streamed
 * checkout of a big repo, evaluations failed (not redone forever) when they keep dying, and Nix dying with a
 * kill -9'd server. Commits the gate would refuse (or take a minute over) reach the evaluator the way a commit
 * from before a limit was lowered does: put into the bare repo while the server is down, found at its next start.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { formatSize } from "../../hooks/layout-rules.js";
import { removeTree } from "../../testing/remove-tree.js";
import { commitAll, ensureCompiledHooks, gitIn, push, workRepoFromFixture } from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";

let tmp = "";
let counter = 0;

const hello = `{ writeShellScriptBin }: writeShellScriptBin "hello" "echo hello"\n`;
/** Forces a 20-million-element list: about 1.5 GB of Nix heap. */
const huge = `{ writeShellScriptBin }:
writeShellScriptBin "huge-\${toString (builtins.length (builtins.genList (x: x) 20000000))}" "echo huge"\n`;
/** A regex that backtracks for minutes in constant memory: an evaluation that is slow, not big. */
const slow = `{ writeShellScriptBin }:
writeShellScriptBin "slow-\${toString (builtins.match "(a*)*b" "${"a".repeat(22)}" == null)}" "echo slow"\n`;

/** A work repo with these files (path → content), committed on main. */
async function workRepo(files: Record<string, string>): Promise<string> {
  const dir = join(tmp, `w${++counter}`);
  await mkdir(dir, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  await gitIn(dir, "init", "-q", "-b", "main");
  // No delta search over big blobs: on 10 MB of repeated lines it takes git minutes to pack.
  await gitIn(dir, "config", "core.bigFileThreshold", "1m");
  await commitAll(dir, "files");
  return dir;
}

/** `count` small distinct files under pkgs/hello/data/. */
function manyFiles(count: number): Record<string, string> {
  const files: Record<string, string> = { "pkgs/hello/default.nix": hello };
  for (let i = 0; i < count; i++) files[`pkgs/hello/data/${Math.floor(i / 1000)}/f${i}.txt`] = `${i}\n`;
  return files;
}

/** Puts the work repo's main into the org's bare repo without the gate (the server must be stopped). */
async function aroundTheGate(dataDir: string, org: string, work: string): Promise<string> {
  await execa("git", [
    "-C",
    join(dataDir, "repos", org, "nixexprs.git"),
    "fetch",
    "-q",
    work,
    "+main:refs/heads/main",
  ]);
  return gitIn(work, "rev-parse", "HEAD");
}

interface Evaluation {
  id: number;
  state: string;
  error: string | null;
  finishedAt: string | null;
  counts: { jobs: number; problems: number };
}

/** The newest evaluation of ORG/main once it is finished (bounded wait). */
async function finishedEvaluation(srv: TestServer, org: string, waitMs = 60_000): Promise<Evaluation> {
  let e: Evaluation | undefined;
  for (const until = Date.now() + waitMs; Date.now() < until; ) {
    const r = await srv.api("GET", `/api/v1/orgs/${org}/jobsets/main/evaluations`);
    e = r.body?.evaluations?.[0];
    if (e && ["succeeded", "failed", "skipped"].includes(e.state)) return e;
    await new Promise((done) => setTimeout(done, 200));
  }
  throw new Error(`no finished evaluation of ${org}/main; last seen: ${JSON.stringify(e)}`);
}

async function orgs(srv: TestServer, ...names: string[]): Promise<void> {
  for (const name of names) {
    const r = await srv.api("POST", "/api/v1/orgs", { name });
    assert.is(r.status, 201, JSON.stringify(r.body));
  }
}

async function alive(srv: TestServer): Promise<void> {
  const r = await srv.api("GET", "/api/v1/orgs");
  assert.is(r.status, 200, `the server stopped answering; its stderr:\n${srv.stderr()}`);
  assert.is(srv.process.exitCode, null);
}

/** Pids of nix-instantiate processes whose arguments name `dataDir` (a server's evaluator). */
async function nixOf(dataDir: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const comm = await readFile(`/proc/${name}/comm`, "utf8").catch(() => "");
    if (comm.trim() !== "nix-instantiate") continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(dataDir) && !(await zombie(Number(name)))) found.push(Number(name));
  }
  return found;
}

/** Dead but not yet reaped counts as gone. */
async function zombie(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  return stat === "" || stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
}

async function withDataDir(body: (dataDir: string) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(join(tmp, "data-"));
  try {
    await body(dataDir);
  } finally {
    await removeTree(dataDir);
  }
}

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-eval-limits-"));
});

test.after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test("the gate refuses a repo over the file-count, size and memory limits, naming each; the server stays up", async () => {
  const args = ["--max-repo-files", "100", "--max-repo-size", "300K", "--eval-memory", "256M"];
  const srv = await startTestServer({ args });
  try {
    await orgs(srv, "acme");
    const url = srv.gitUrl("acme", srv.adminToken);

    const many = await push(await workRepo(manyFiles(150)), url, ["HEAD:refs/heads/main"]);
    assert.is(many.exitCode, 1, many.stderr);
    assert.ok(
      many.remote.includes(
        "refs/heads/main: the repository holds 151 files, over this server's limit of 100 files " +
          "(keep generated and vendored files out of the repo, or ask the server's admin to raise the limit: " +
          "flox server --max-repo-files N (or FLOX_MAX_REPO_FILES))",
      ),
      many.remote.join("\n"),
    );

    const bigFiles = {
      "pkgs/hello/default.nix": hello,
      "pkgs/hello/a.txt": "a".repeat(200_000),
      "pkgs/hello/b.txt": "b".repeat(200_000),
    };
    const total = Object.values(bigFiles).reduce((sum, text) => sum + Buffer.byteLength(text), 0);
    const big = await push(await workRepo(bigFiles), url, ["HEAD:refs/heads/main"]);
    assert.is(big.exitCode, 1, big.stderr);
    assert.ok(
      big.remote.includes(
        `refs/heads/main: the repository's files add up to ${formatSize(total)}, over this server's limit of ` +
          `${formatSize(300 * 1024)} (keep generated and vendored files out of the repo, or ask the server's admin ` +
          "to raise the limit: flox server --max-repo-size BYTES (or FLOX_MAX_REPO_SIZE))",
      ),
      big.remote.join("\n"),
    );

    const oom = await push(await workRepo({ "pkgs/huge/default.nix": huge }), url, ["HEAD:refs/heads/main"]);
    assert.is(oom.exitCode, 1, oom.stderr);
    assert.ok(
      oom.remote.some(
        (l) =>
          l.startsWith("pkgs/huge/default.nix:1: evaluation ran out of memory (limit 256 MiB) (") &&
          l.includes("flox server --eval-memory BYTES (FLOX_EVAL_MEMORY)"),
      ),
      oom.remote.join("\n"),
    );
    await alive(srv);
    const refs = await execa("git", ["ls-remote", url]);
    assert.is(refs.stdout.trim(), "", "nothing was accepted");
  } finally {
    await srv.stop();
  }
});

test("the evaluator: out of memory is the package's problem, a repo over the limits fails with the reason, once", async () => {
  await withDataDir(async (dataDir) => {
    // The memory limit from the environment, the way a service unit would set it.
    const args = ["--max-repo-files", "100"];
    const env = { FLOX_EVAL_MEMORY: "256M" };
    let srv = await startTestServer({ dataDir, args, env });
    await orgs(srv, "oom", "many");
    await srv.stop();
    await aroundTheGate(
      dataDir,
      "oom",
      await workRepo({ "pkgs/huge/default.nix": huge, "pkgs/hello/default.nix": hello }),
    );
    await aroundTheGate(dataDir, "many", await workRepo(manyFiles(150)));

    srv = await startTestServer({ dataDir, args, env });
    try {
      const oom = await finishedEvaluation(srv, "oom");
      assert.is(oom.state, "succeeded", JSON.stringify(oom));
      assert.equal([oom.counts.jobs, oom.counts.problems], [1, 1]);
      const detail = (await srv.api("GET", `/api/v1/evaluations/${oom.id}`)).body.evaluation;
      assert.is(detail.jobs[0].attr, "hello");
      assert.is(detail.problems[0].path, "pkgs/huge/default.nix");
      assert.is(detail.problems[0].message, "evaluation ran out of memory (limit 256 MiB)");

      const many = await finishedEvaluation(srv, "many");
      assert.is(many.state, "failed");
      assert.is(
        many.error,
        "the repository holds 151 files, over this server's limit of 100; the server does not evaluate it " +
          "(raise the limit with flox server --max-repo-files)",
      );
      await alive(srv);
      await srv.stop();

      // Failed is final: the next start neither re-queues nor redoes it.
      srv = await startTestServer({ dataDir, args, env });
      await new Promise((done) => setTimeout(done, 1000));
      const again = (await srv.api("GET", "/api/v1/orgs/many/jobsets/main/evaluations")).body.evaluations;
      assert.equal(
        again.map((e: Evaluation) => [e.id, e.state, e.finishedAt]),
        [[many.id, "failed", many.finishedAt]],
      );
    } finally {
      await srv.stop();
    }
  });
});

test("a 120 MB repo is checked out streamed and evaluated with a raised size limit; the server stays up", async () => {
  const srv = await startTestServer({ args: ["--max-repo-size", "200M"] });
  try {
    await orgs(srv, "acme");
    const files: Record<string, string> = { "pkgs/hello/default.nix": hello };
    // 12 distinct files of 10 MB each, under the 10 MiB file limit; they compress well, so the push is quick.
    for (let i = 0; i < 12; i++)
      files[`pkgs/hello/blob${i}.txt`] = `${i}`.padEnd(100, ".").concat("\n").repeat(100_000);
    const work = await workRepo(files);
    const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
    assert.is(r.exitCode, 0, r.stderr);
    const e = await finishedEvaluation(srv, "acme");
    assert.is(e.state, "succeeded", JSON.stringify(e));
    assert.equal([e.counts.jobs, e.counts.problems], [1, 0]);
    await alive(srv);
  } finally {
    await srv.stop();
  }
});

test("an evaluation under way at three crashes in a row is failed with the reason, not re-queued again", async () => {
  await withDataDir(async (dataDir) => {
    const delay = { FLOX_TEST_EVAL_DELAY_MS: "60000" };
    let srv = await startTestServer({ dataDir, env: delay });
    await orgs(srv, "acme");
    const work = await workRepoFromFixture("dep-chain", join(tmp, `w${++counter}`));
    // The post-receive hook waits on the evaluation; it gives up when the server dies.
    const pushing = push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
    // Each kill comes once this server has started the evaluation (its startedAt is new): a lone SQLite server
    // re-queues what it finds running at once, one of a fleet (PostgreSQL) only once no live server holds its lock
    // and it started more than 10 s ago, so until then the row still shows the killed server's run.
    let startedBefore: string | undefined;
    for (let crash = 1; crash <= 3; crash++) {
      if (crash > 1) srv = await startTestServer({ dataDir, env: delay });
      let e: { state?: string; startedAt?: string } | undefined;
      for (let i = 0; i < 600 && !(e?.state === "running" && e.startedAt !== startedBefore); i++) {
        await new Promise((done) => setTimeout(done, 100));
        e = (await srv.api("GET", "/api/v1/orgs/acme/jobsets/main/evaluations")).body?.evaluations?.[0];
      }
      assert.is(e?.state, "running", `start ${crash}`);
      assert.is.not(e?.startedAt, startedBefore, `start ${crash} began the evaluation again`);
      startedBefore = e?.startedAt;
      srv.process.kill("SIGKILL");
      await srv.stop();
    }
    await pushing;
    srv = await startTestServer({ dataDir });
    try {
      // On PostgreSQL the last run is found orphaned by the 3 s check once 10 s have passed since its start.
      const e = await finishedEvaluation(srv, "acme", 30_000);
      assert.is(e.state, "failed");
      assert.match(
        e.error ?? "",
        /^the server stopped 3 times while evaluating this commit \(it crashed or was killed\)/,
      );
      await alive(srv);
    } finally {
      await srv.stop();
    }
  });
});

test("nix-instantiate dies with a kill -9'd server instead of running on", async () => {
  await withDataDir(async (dataDir) => {
    let srv = await startTestServer({ dataDir });
    await orgs(srv, "acme");
    await srv.stop();
    await aroundTheGate(dataDir, "acme", await workRepo({ "pkgs/slow/default.nix": slow }));
    srv = await startTestServer({ dataDir });
    let pids: number[] = [];
    try {
      for (let i = 0; i < 300 && pids.length === 0; i++) {
        await new Promise((done) => setTimeout(done, 100));
        pids = await nixOf(dataDir);
      }
      assert.ok(pids.length > 0, "the evaluator's nix-instantiate never started");
      srv.process.kill("SIGKILL");
      let left = pids;
      for (let i = 0; i < 100 && left.length > 0; i++) {
        await new Promise((done) => setTimeout(done, 100));
        left = await nixOf(dataDir);
      }
      assert.equal(left, [], "nix-instantiate outlived its server by 10 s");
    } finally {
      await srv.stop();
      for (const pid of await nixOf(dataDir)) process.kill(pid, "SIGKILL");
    }
  });
});

test.run();
