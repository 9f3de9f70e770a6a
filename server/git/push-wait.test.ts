/**
 * `git push -o wait` end to end: a real `flox server`, a real `flox builder` and real `git push` processes. The push
 * stays open and prints build progress until its builds finished, exits non-zero when one failed (the ref moved all
 * the same), gives the repo's push lock up while it waits, and stops waiting when its client goes away.
 * Needs dist/ (npm test builds it).
 */
import { mkdir, mkdtemp, readdir, readFile, readlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type BuilderProcess, serverSystem, startBuilderProcess } from "../../testing/builder.js";
import { queryDb } from "../../testing/ci-harness.js";
import { removeTree } from "../../testing/remove-tree.js";
import {
  commitAll,
  ensureCompiledHooks,
  gitIn,
  type PushResult,
  workRepoFromFixture,
} from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { waitFor as waitUntil } from "../../testing/wait-for.js";

let srv: TestServer;
let tmp = "";
let url = "";
let builderToken = "";
let system = "";
let builder: BuilderProcess | undefined;
let chainWork = "";

const query = <T>(sql: string, ...params: unknown[]): T[] => queryDb<T>(srv.dataDir, sql, ...params);

/** attr → build of the evaluation of `sha` on `branch`. */
function buildsOf(branch: string, sha: string): Record<string, { id: number; state: string }> {
  const rows = query<{ attr: string; id: number; state: string }>(
    `select j.attr, b.id, b.state from eval_jobs j
     join builds b on b.id = j.build_id
     join evaluations e on e.id = j.evaluation_id
     join jobsets s on s.id = e.jobset_id
     where s.branch = ? and e.commit_sha = ?`,
    branch,
    sha,
  );
  return Object.fromEntries(rows.map((r) => [r.attr, { id: r.id, state: r.state }]));
}

function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 120_000): Promise<T> {
  return waitUntil(what, probe, { timeoutMs, explain: () => `builder:\n${builder?.log()}` });
}

function startBuilder(): void {
  builder = startBuilderProcess(srv, {
    name: "b1",
    token: builderToken,
    store: join(tmp, "builder-store"),
    system,
  });
}

async function stopBuilder(): Promise<void> {
  const b = builder;
  builder = undefined;
  await b?.stop();
}

/** A `git push` left running: its stderr so far, and how it ended. */
interface RunningPush {
  child: ReturnType<typeof execa>;
  stderr(): string;
  done: Promise<PushResult>;
  /** Signals git and its helpers, as a terminal does on Ctrl-C. */
  interrupt(signal?: NodeJS.Signals): void;
}

const pushes = new Set<RunningPush>();

/** Started in its own process group, as a shell starts a command, so that a Ctrl-C can reach git's helpers too. */
function startPush(workDir: string, args: string[]): RunningPush {
  const child = execa("git", ["push", "--porcelain", url, ...args], {
    cwd: workDir,
    reject: false,
    env: { GIT_TERMINAL_PROMPT: "0" },
    detached: true,
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (c: string) => {
    stderr += c;
  });
  const done = child.then((r) => ({
    exitCode: r.exitCode ?? -1,
    stdout: String(r.stdout),
    stderr,
    remote: remoteLines(stderr),
  }));
  const interrupt = (signal: NodeJS.Signals = "SIGINT") => {
    try {
      process.kill(-(child.pid ?? 0), signal);
    } catch {}
  };
  const running: RunningPush = { child, stderr: () => stderr, done, interrupt };
  pushes.add(running);
  void done.then(() => pushes.delete(running));
  return running;
}

/** The push's result, or a failed one when it takes longer than `ms` (then it is killed). */
async function finishWithin(p: RunningPush, ms: number): Promise<PushResult> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((r) => {
    timer = setTimeout(() => r("late"), ms);
  });
  const first = await Promise.race([p.done, late]);
  clearTimeout(timer);
  if (first !== "late") return first;
  p.interrupt("SIGKILL");
  const r = await p.done;
  return { ...r, exitCode: -1, stderr: `still running after ${ms} ms; killed\n${r.stderr}` };
}

const remoteLines = (stderr: string) =>
  stderr
    .split("\n")
    .filter((l) => l.startsWith("remote: "))
    // biome-ignore lint/suspicious/noControlCharactersInRegex: git's clear-to-end-of-line
    .map((l) => l.slice("remote: ".length).replace(/\s*(\u001b\[K)?\s*$/, ""));

/** The post-receive hooks running in this test's repo right now (found by their working directory). */
async function hooksRunning(): Promise<number[]> {
  const repo = join(srv.dataDir, "repos", "acme", "nixexprs.git");
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if ((await readlink(`/proc/${entry}/cwd`)) !== repo) continue;
      if ((await readFile(`/proc/${entry}/cmdline`, "utf8")).includes("post-receive"))
        pids.push(Number(entry));
    } catch {}
  }
  return pids;
}

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-push-wait-"));
  srv = await startTestServer({ env: { FLOX_LEASE_SECONDS: "3", FLOX_WAIT_HEARTBEAT_SECONDS: "2" } });
  assert.is((await srv.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  const t = await srv.api("POST", "/api/v1/tokens", { scope: "builder", name: "builders" });
  assert.is(t.status, 201, JSON.stringify(t.body));
  builderToken = t.body.secret;
  system = await serverSystem(srv.dataDir);
  url = srv.gitUrl("acme", srv.adminToken);
});

test.after(async () => {
  for (const p of pushes) p.interrupt("SIGKILL");
  await stopBuilder();
  await srv?.stop();
  if (tmp) await removeTree(tmp);
});

test("-o wait: the push streams build progress and exits 0 once every build succeeded", async () => {
  startBuilder();
  chainWork = await workRepoFromFixture("dep-chain", join(tmp, "chain"));
  const head = await gitIn(chainWork, "rev-parse", "HEAD");
  const r = await finishWithin(startPush(chainWork, ["-o", "wait", "HEAD:refs/heads/main"]), 180_000);
  assert.is(r.exitCode, 0, r.stderr);
  const b = buildsOf("main", head);
  assert.equal(
    Object.values(b).map((x) => x.state),
    ["succeeded", "succeeded", "succeeded"],
    "every build finished before the push ended",
  );
  const lines = r.remote;
  const evalAt = lines.findIndex((l) =>
    /^evaluation #\d+ of acme\/main at \w{7}: 3 jobs, 3 to build/.test(l),
  );
  assert.ok(evalAt > 0, lines.join("\n"));
  // c first, then b, then a (each needs the one before); each finished build once, counted.
  const finished = lines.filter((l) => l.startsWith("["));
  assert.equal(finished, [
    `[1/3] c succeeded (build ${b.c?.id})`,
    `[2/3] b succeeded (build ${b.b?.id})`,
    `[3/3] a succeeded (build ${b.a?.id})`,
  ]);
  assert.ok(lines.includes(`c building (build ${b.c?.id})`), lines.join("\n"));
  assert.is(lines.at(-1), `CI passed: acme/main at ${head.slice(0, 7)}: all 3 builds succeeded`);
  assert.not.match(r.stderr, /sideband|error/);
});

test("-o wait: a failing build makes the push exit non-zero, naming it; the ref moved all the same", async () => {
  const work = await workRepoFromFixture("failing-build", join(tmp, "failing"));
  const head = await gitIn(work, "rev-parse", "HEAD");
  const r = await finishWithin(startPush(work, ["-o", "wait", "HEAD:refs/heads/broken"]), 180_000);
  assert.is.not(r.exitCode, 0, r.stderr);
  const b = buildsOf("broken", head);
  assert.is(b.fails?.state, "failed");
  assert.is(b.hello?.state, "succeeded");
  const id = b.fails?.id;
  assert.ok(
    r.remote.some((l) =>
      new RegExp(`^\\[[12]/2\\] fails failed \\(build ${id}\\) — see: flox log ${id}$`).test(l),
    ),
    r.stderr,
  );
  const summary = `acme/broken at ${head.slice(0, 7)}: 1 of 2 builds failed: fails (build ${id})`;
  assert.ok(r.remote.includes(`CI failed: ${summary}`), r.stderr);
  // The side-band error the server puts before the end of the response: git prints it and fails.
  assert.ok(r.remote.includes(`CI failed for this push (its refs were updated): ${summary}`), r.stderr);
  const remote = await gitIn(work, "ls-remote", url, "refs/heads/broken");
  assert.is(remote, `${head}\trefs/heads/broken`);
  assert.match(r.stdout, "refs/heads/broken");
});

test("-o wait gives the repo's push lock up while it waits: another push goes through meanwhile", async () => {
  await stopBuilder();
  await mkdir(join(chainWork, "pkgs", "later"), { recursive: true });
  await writeFile(
    join(chainWork, "pkgs", "later", "default.nix"),
    '{ runCommand }:\n\nrunCommand "later" { } "echo built later > $out"\n',
  );
  const head = await commitAll(chainWork, "later");
  const waiting = startPush(chainWork, ["-o", "wait", "HEAD:refs/heads/main"]);
  // No builder: the push waits for `later` and says so every 2 s (FLOX_WAIT_HEARTBEAT_SECONDS).
  await waitFor(
    "the waiting push's heartbeat",
    () => /remote: waiting for 1 of 4 builds: 0 building, 1 queued \(\d+m\d\ds\)/.test(waiting.stderr()),
    60_000,
  );
  assert.match(waiting.stderr(), /remote: \[3\/4\] 3 packages already built/);

  const other = await finishWithin(startPush(chainWork, ["HEAD~1:refs/heads/side"]), 60_000);
  assert.is(other.exitCode, 0, other.stderr);
  assert.ok(
    other.remote.some((l) => /^recorded push #\d+ for refs\/heads\/side$/.test(l)),
    other.stderr,
  );
  assert.is(waiting.child.exitCode, null, "the -o wait push is still waiting");

  startBuilder();
  const r = await finishWithin(waiting, 120_000);
  assert.is(r.exitCode, 0, r.stderr);
  const later = buildsOf("main", head).later;
  assert.is(later?.state, "succeeded");
  assert.ok(r.remote.includes(`[4/4] later succeeded (build ${later?.id})`), r.stderr);
  assert.is(r.remote.at(-1), `CI passed: acme/main at ${head.slice(0, 7)}: all 4 builds succeeded`);
});

test("-o wait stops waiting when the client goes away (Ctrl-C)", async () => {
  await stopBuilder();
  await mkdir(join(chainWork, "pkgs", "abandoned"), { recursive: true });
  await writeFile(
    join(chainWork, "pkgs", "abandoned", "default.nix"),
    '{ runCommand }:\n\nrunCommand "abandoned" { } "echo left behind > $out"\n',
  );
  await commitAll(chainWork, "abandoned");
  const waiting = startPush(chainWork, ["-o", "wait", "HEAD:refs/heads/main"]);
  await waitFor(
    "the waiting push's heartbeat",
    () => /remote: waiting for \d+ of/.test(waiting.stderr()),
    60_000,
  );
  assert.ok((await hooksRunning()).length > 0, "the post-receive hook runs while the push waits");
  waiting.interrupt();
  await finishWithin(waiting, 10_000);
  const until = Date.now() + 15_000;
  while ((await hooksRunning()).length > 0 && Date.now() < until)
    await new Promise((r) => setTimeout(r, 250));
  assert.equal(await hooksRunning(), [], "the hook ended with its client");
});

test.run();
