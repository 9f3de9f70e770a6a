// The want rules of shared builds, in-process against a fresh database: who keeps a build going after a cancel.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { and, eq } from "drizzle-orm";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Db, openDb } from "../db/open.js";
import { buildDeps, builds, evalJobs, evaluations, jobsets, orgs, pushes } from "../db/schema.js";
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
function org(name: string): { id: number; evaluation: number } {
  const o = db.insert(orgs).values({ name, displayName: name }).returning().get();
  const p = db
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
    .get();
  const js = db.insert(jobsets).values({ orgId: o.id, branch: "main" }).returning().get();
  const e = db
    .insert(evaluations)
    .values({ jobsetId: js.id, pushId: p.id, commitSha: "1".repeat(40), state: "succeeded" })
    .returning()
    .get();
  return { id: o.id, evaluation: e.id };
}

let n = 0;
function build(deps: number[] = []): number {
  n++;
  const hash = String(n).padStart(32, "a");
  const row = db
    .insert(builds)
    .values({
      drvPath: `/nix/store/${hash}-p${n}.drv`,
      system: "x86_64-linux",
      requiredFeatures: [],
      outputs: { out: `/nix/store/${hash}-p${n}` },
      state: "queued",
    })
    .returning()
    .get();
  for (const d of deps) db.insert(buildDeps).values({ buildId: row.id, dependsOn: d }).run();
  return row.id;
}

function job(evaluation: number, attr: string, buildId: number): void {
  db.insert(evalJobs)
    .values({
      evaluationId: evaluation,
      attr,
      name: attr,
      system: "x86_64-linux",
      drvPath: "",
      outputs: {},
      buildId,
    })
    .run();
}

const state = (id: number) => db.select({ s: builds.state }).from(builds).where(eq(builds.id, id)).get()?.s;
/** The state an org sees its job `attr` of `evaluation` in. */
const seenBy = (evaluation: number, attr: string) =>
  db
    .select({ s: jobState })
    .from(evalJobs)
    .innerJoin(builds, eq(builds.id, evalJobs.buildId))
    .where(and(eq(evalJobs.evaluationId, evaluation), eq(evalJobs.attr, attr)))
    .get()?.s;

test("one org's cancel of a build it alone wants stops it, and what waits on it, as before", () => {
  const acme = org("acme");
  const y = build();
  const x = build([y]);
  job(acme.evaluation, "y", y);
  job(acme.evaluation, "x", x);
  assert.equal(cancelWant(db, y, [acme.id]), { state: "cancelled", withdrawn: 1 });
  assert.is(state(y), "cancelled");
  assert.is(state(x), "dependency-failed");
});

test("a dependency another org's job waits on keeps going; the last want's withdrawal stops it and what it needed", () => {
  const acme = org("acme");
  const beta = org("beta");
  const y = build();
  const x = build([y]);
  job(acme.evaluation, "y", y);
  job(acme.evaluation, "x", x);
  job(beta.evaluation, "x", x); // beta wants y only through x
  assert.equal(cancelWant(db, y, [acme.id]), { state: "queued", withdrawn: 1 });
  assert.is(seenBy(acme.evaluation, "y"), "cancelled", "acme's job reads cancelled");
  assert.is(state(x), "queued");
  assert.equal(
    cancelWant(db, x, [beta.id]),
    { state: "queued", withdrawn: 1 },
    "acme's job on x still wants it",
  );
  assert.equal(cancelWant(db, x, [acme.id]), { state: "cancelled", withdrawn: 1 });
  assert.is(state(y), "cancelled", "nothing wanted y any more once x went");
  assert.equal(
    cancelWant(db, y, [acme.id]),
    { state: "cancelled", withdrawn: 0 },
    "an ended build is left alone",
  );
});

test("a restart by the org that withdrew makes it want the build again; an admin's cancel withdraws every want", () => {
  const acme = org("acme");
  const beta = org("beta");
  const y = build();
  job(acme.evaluation, "y", y);
  job(beta.evaluation, "y", y);
  cancelWant(db, y, [beta.id]);
  assert.is(seenBy(beta.evaluation, "y"), "cancelled");
  assert.equal(restartBuild(db, y, [beta.id]), [y]);
  assert.is(seenBy(beta.evaluation, "y"), "queued");
  assert.equal(cancelWant(db, y, undefined), { state: "cancelled", withdrawn: 2 });
  assert.is(seenBy(acme.evaluation, "y"), "cancelled");
  // The queue's own cancel (no org) is still the whole build's.
  const z = build();
  job(acme.evaluation, "z", z);
  assert.is(cancelBuild(db, z), "cancelled");
});

test.run();
