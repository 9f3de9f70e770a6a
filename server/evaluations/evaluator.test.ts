// The evaluator module without a server process: a bare repo holding a commit the push gate would refuse
// (so its problems are recorded), the Storehouse predicate, and the comparison's rules.
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { execa } from "execa";
import pino from "pino";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ensureBusyboxDir } from "../../lib/busybox-dir.js";
import { parseDerivation } from "../../lib/derivation.js";
import { removeTree } from "../../testing/remove-tree.js";
import { gitIn, workRepoFromFixture } from "../../testing/repos.js";
import { type Db, openDb } from "../db/open.js";
import { first, one } from "../db/raw.js";
import { builds, evalJobs, evaluations, orgs } from "../db/tables.js";
import { GateResults } from "../git/gate-results.js";
import type { OrgRecord } from "../orgs/orgs.js";
import { dataPaths, repoDir } from "../paths.js";
import { recordPush } from "../pushes/data.js";
import { outputsInStorehouse } from "./builds.js";
import { compareStatus } from "./compare.js";
import { findEvaluation, problemsOf } from "./data.js";
import { Evaluator } from "./evaluator.js";

let tmp = "";
let db: Db;
let close: () => void;
let org: OrgRecord;
const paths = () => dataPaths(join(tmp, "data"));

/** Pushes fixture `name` into the org's bare repo (no hooks there) and records the push: its evaluation is queued. */
async function pushFixture(name: string, branch: string): Promise<number> {
  const work = await workRepoFromFixture(name, join(tmp, `w-${name}-${branch}`));
  const sha = await gitIn(work, "rev-parse", "HEAD");
  await gitIn(work, "push", "-q", repoDir(paths().repos, org.name), `HEAD:refs/heads/${branch}`);
  const push = await recordPush(db, org, {
    ref: `refs/heads/${branch}`,
    oldSha: "0".repeat(40),
    newSha: sha,
    pushOptions: [],
  });
  const e = await db.select().from(evaluations).where(eq(evaluations.pushId, push.id)).then(first);
  assert.ok(e, "the push queued an evaluation");
  return e?.id ?? 0;
}

async function runEvaluator(isInStorehouse: (p: string) => boolean, id: number): Promise<void> {
  const ev = new Evaluator({ db, paths: paths(), logger: pino({ level: "silent" }), isInStorehouse });
  await ev.start();
  await ev.waitFinished(id, 60_000);
  await ev.close();
}

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "flox-evaluator-"));
  const p = paths();
  await ensureBusyboxDir(p.busybox);
  await execa("git", ["init", "-q", "--bare", repoDir(p.repos, "acme")]);
  ({ db, close } = openDb(join(tmp, "db.sqlite")));
  org = await db.insert(orgs).values({ name: "acme", displayName: "acme" }).returning().then(one);
});

test.after(async () => {
  close?.();
  if (tmp) await removeTree(tmp);
});

test("per-package problems are recorded with their file and line; the good package still becomes a job", async () => {
  const id = await pushFixture("eval-error", "main");
  await runEvaluator(() => false, id);
  const e = await findEvaluation(db, id);
  assert.is(e?.state, "succeeded", e?.error ?? "");
  assert.equal(
    (await db.select({ attr: evalJobs.attr }).from(evalJobs)).map((j) => j.attr),
    ["fine"],
  );
  const problems = await problemsOf(db, id);
  assert.ok(problems.length >= 3, JSON.stringify(problems));
  for (const p of problems) {
    assert.match(p.path, /^pkgs\/[^/]+\//);
    assert.ok(p.line >= 1);
    assert.is(p.attr, p.path.split("/")[1]);
  }
  assert.ok(
    problems.some((p) => p.attr === "missing-arg" && /frobnicate/.test(p.message)),
    JSON.stringify(problems),
  );
  assert.is(e?.problemCount, problems.length);
  assert.is(e?.jobCount, 1);
});

test("a drv whose outputs are all in the Storehouse is cached at once; its .drv is read for inputs", async () => {
  const id = await pushFixture("dep-chain", "cached");
  await runEvaluator(() => true, id);
  const e = await findEvaluation(db, id);
  assert.is(e?.state, "succeeded", e?.error ?? "");
  assert.equal([e?.newBuilds, e?.cachedBuilds], [0, 3]);
  const rows = (await db.select().from(builds)).filter((b) => b.state === "cached");
  assert.is(rows.length, 3);
  for (const b of rows) assert.ok(b.finishedAt);
  // The ATerm reader agrees with what Nix wrote: a's derivation takes b's as input.
  const a = (await db.select().from(evalJobs)).find((j) => j.evaluationId === id && j.attr === "a");
  const b = (await db.select().from(evalJobs)).find((j) => j.evaluationId === id && j.attr === "b");
  const drv = parseDerivation(await readFile(join(paths().nixRoot, a?.drvPath ?? ""), "utf8"));
  assert.ok(b && Object.keys(drv.inputDrvs).includes(b.drvPath), JSON.stringify(drv.inputDrvs));
  assert.equal(drv.outputs, a?.outputs);
});

test("a commit the repo does not have fails the evaluation with a reason", async () => {
  const push = await recordPush(db, org, {
    ref: "refs/heads/ghost",
    oldSha: "0".repeat(40),
    newSha: "1".repeat(40),
    pushOptions: [],
  });
  const e = await db.select().from(evaluations).where(eq(evaluations.pushId, push.id)).then(first);
  await runEvaluator(() => false, e?.id ?? 0);
  const after = await findEvaluation(db, e?.id ?? 0);
  assert.is(after?.state, "failed");
  assert.match(after?.error ?? "", /could not check out commit 1111111/);
});

test("the push gate's jobs are taken only for the same tree with every .drv in the store", async () => {
  const id1 = await pushFixture("good", "gate-a");
  const e1 = await findEvaluation(db, id1);
  const tree = await gitIn(repoDir(paths().repos, org.name), "rev-parse", `${e1?.commitSha}^{tree}`);
  const gateResults = new GateResults();
  const lines: string[] = [];
  const logger = pino({ level: "info" }, { write: (l: string) => lines.push(l) });
  const run = async (id: number) => {
    const ev = new Evaluator({ db, paths: paths(), logger, isInStorehouse: () => false, gateResults });
    await ev.start();
    await ev.waitFinished(id, 60_000);
    await ev.close();
  };
  const jobsOf = async (id: number) =>
    (await db.select().from(evalJobs).where(eq(evalJobs.evaluationId, id))).map((j) => ({
      attr: j.attr,
      name: j.name,
      system: j.system,
      drvPath: j.drvPath,
      outputs: j.outputs as Record<string, string>,
    }));
  // Jobs whose .drv files the store does not have: the evaluator evaluates itself.
  const packages = ["broken-not-really", "x"];
  const missing = packages.map((attr) => ({
    attr,
    name: attr,
    system: "x86_64-linux",
    drvPath: `/nix/store/${"a".repeat(32)}-${attr}.drv`,
    outputs: { out: `/nix/store/${"b".repeat(32)}-${attr}` },
  }));
  gateResults.put(org.name, tree, { jobs: missing, packages });
  await run(id1);
  assert.is((await findEvaluation(db, id1))?.state, "succeeded");
  const evaluated = await jobsOf(id1);
  assert.ok(evaluated.length > 2, JSON.stringify(evaluated));
  for (const j of evaluated) await readFile(join(paths().nixRoot, j.drvPath));
  assert.not.ok(lines.some((l) => l.includes("evaluation taken")));

  // The same tree on another branch, with jobs that are in the store: taken as they are.
  const taken = evaluated.map((j) => ({ ...j }));
  gateResults.put(org.name, tree, { jobs: taken, packages: taken.map((j) => j.attr) });
  const id2 = await pushFixture("good", "gate-b");
  await run(id2);
  assert.is((await findEvaluation(db, id2))?.state, "succeeded");
  assert.equal(await jobsOf(id2), evaluated);
  assert.ok(
    lines.some((l) => l.includes(`"evaluation":${id2}`) && l.includes("evaluation taken")),
    lines.join(""),
  );
});

test("outputsInStorehouse needs every output, and a known path for each", async () => {
  const outs = { out: "/nix/store/aaaa-x", dev: "/nix/store/bbbb-x-dev" };
  assert.ok(await outputsInStorehouse(outs, () => true));
  assert.not.ok(await outputsInStorehouse(outs, (p) => p.endsWith("-dev")));
  assert.not.ok(await outputsInStorehouse({ out: "" }, () => true));
  assert.not.ok(await outputsInStorehouse({}, () => true));
});

test("compareStatus sorts attrs into new, removed, newly failed, fixed and still failing", () => {
  const before = new Map([
    ["gone", false],
    ["breaks", false],
    ["heals", true],
    ["stuck", true],
    ["fine", false],
  ]);
  const now = new Map([
    ["added", true],
    ["breaks", true],
    ["heals", false],
    ["stuck", true],
    ["fine", false],
  ]);
  assert.equal(compareStatus(before, now), {
    new: ["added"],
    removed: ["gone"],
    newlyFailed: ["breaks"],
    fixed: ["heals"],
    stillFailing: ["stuck"],
  });
});

test.run();
