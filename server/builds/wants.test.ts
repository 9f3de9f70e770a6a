// The want rules of shared builds, in-process against a fresh database: who keeps a build going after a cancel.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { and, eq } from "drizzle-orm";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Db, openDb } from "../db/open.js";
import { first, one } from "../db/raw.js";
import { buildDeps, builds, evalJobs, evaluations, jobsets, orgs, pushes } from "../db/tables.js";
import { restartBuild } from "./builds.js";
import { cancelBuild } from "./queue.js";
import { cancelWant, jobState } from "./wants.js";

let dir: string;
let db: Db;
let close: () => void;

test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), "flox-wants-"));
  ({ db, close } = openDb(join(dir, "db.sqlite")));
});
test.after.each(() => {
  close();
  rmSync(dir, { recursive: true, force: true });
});

/** An org with one evaluation of branch main; returns its id and that evaluation's. */
async function org(name: string): Promise<{ id: number; evaluation: number }> {
  const o = await db.insert(orgs).values({ name, displayName: name }).returning().then(one);
  const p = await db
    .insert(pushes)
    .values({
      orgId: o.id,
      ref: "refs/heads/main",
      oldSha: "0".repeat(40),
      newSha: "1".repeat(40),
      pushOptions: [],
      source: "hook",
    })
    .returning()
    .then(one);
  const js = await db.insert(jobsets).values({ orgId: o.id, branch: "main" }).returning().then(one);
  const e = await db
    .insert(evaluations)
    .values({ jobsetId: js.id, pushId: p.id, commitSha: "1".repeat(40), state: "succeeded" })
    .returning()
    .then(one);
  return { id: o.id, evaluation: e.id };
}

let n = 0;
async function build(deps: number[] = []): Promise<number> {
  n++;
  const hash = String(n).padStart(32, "a");
  const row = await db
    .insert(builds)
    .values({
      drvPath: `/nix/store/${hash}-p${n}.drv`,
      system: "x86_64-linux",
      requiredFeatures: [],
      outputs: { out: `/nix/store/${hash}-p${n}` },
      state: "queued",
    })
    .returning()
    .then(one);
  for (const d of deps) await db.insert(buildDeps).values({ buildId: row.id, dependsOn: d });
  return row.id;
}

async function job(evaluation: number, attr: string, buildId: number): Promise<void> {
  await db.insert(evalJobs).values({
    evaluationId: evaluation,
    attr,
    name: attr,
    system: "x86_64-linux",
    drvPath: "",
    outputs: {},
    buildId,
  });
}

const state = async (id: number) =>
  (await db.select({ s: builds.state }).from(builds).where(eq(builds.id, id)).then(first))?.s;
/** The state an org sees its job `attr` of `evaluation` in. */
const seenBy = async (evaluation: number, attr: string) =>
  (
    await db
      .select({ s: jobState() })
      .from(evalJobs)
      .innerJoin(builds, eq(builds.id, evalJobs.buildId))
      .where(and(eq(evalJobs.evaluationId, evaluation), eq(evalJobs.attr, attr)))
      .then(first)
  )?.s;

test("one org's cancel of a build it alone wants stops it, and what waits on it, as before", async () => {
  const acme = await org("acme");
  const y = await build();
  const x = await build([y]);
  await job(acme.evaluation, "y", y);
  await job(acme.evaluation, "x", x);
  assert.equal(await cancelWant(db, y, [acme.id]), { state: "cancelled", withdrawn: 1 });
  assert.is(await state(y), "cancelled");
  assert.is(await state(x), "dependency-failed");
});

test("a dependency another org's job waits on keeps going; the last want's withdrawal stops it and what it needed", async () => {
  const acme = await org("acme");
  const beta = await org("beta");
  const y = await build();
  const x = await build([y]);
  await job(acme.evaluation, "y", y);
  await job(acme.evaluation, "x", x);
  await job(beta.evaluation, "x", x); // beta wants y only through x
  assert.equal(await cancelWant(db, y, [acme.id]), { state: "queued", withdrawn: 1 });
  assert.is(await seenBy(acme.evaluation, "y"), "cancelled", "acme's job reads cancelled");
  assert.is(await state(x), "queued");
  assert.equal(
    await cancelWant(db, x, [beta.id]),
    { state: "queued", withdrawn: 1 },
    "acme's job on x still wants it",
  );
  assert.equal(await cancelWant(db, x, [acme.id]), { state: "cancelled", withdrawn: 1 });
  assert.is(await state(y), "cancelled", "nothing wanted y any more once x went");
  assert.equal(
    await cancelWant(db, y, [acme.id]),
    { state: "cancelled", withdrawn: 0 },
    "an ended build is left alone",
  );
});

test("a restart by the org that withdrew makes it want the build again; an admin's cancel withdraws every want", async () => {
  const acme = await org("acme");
  const beta = await org("beta");
  const y = await build();
  await job(acme.evaluation, "y", y);
  await job(beta.evaluation, "y", y);
  await cancelWant(db, y, [beta.id]);
  assert.is(await seenBy(beta.evaluation, "y"), "cancelled");
  assert.equal(await restartBuild(db, y, [beta.id]), [y]);
  assert.is(await seenBy(beta.evaluation, "y"), "queued");
  assert.equal(await cancelWant(db, y, undefined), { state: "cancelled", withdrawn: 2 });
  assert.is(await seenBy(acme.evaluation, "y"), "cancelled");
  // The queue's own cancel (no org) is still the whole build's.
  const z = await build();
  await job(acme.evaluation, "z", z);
  assert.is(await cancelBuild(db, z), "cancelled");
});

test.run();
