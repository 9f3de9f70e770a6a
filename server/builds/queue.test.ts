// The claim transaction and result rules, in-process against a fresh database.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Db, openDb } from "../db/open.js";
import { first, one } from "../db/raw.js";
import { buildDeps, buildLeases, builds, cachePaths } from "../db/tables.js";
import {
  type ClaimRequest,
  cancelBuild,
  claimBuild,
  finishBuild,
  heartbeat,
  MAX_ATTEMPTS,
  sweepExpiredLeases,
} from "./queue.js";

let dir: string;
let db: Db;
let close: () => void;
let n = 0;

test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), "flox-queue-"));
  ({ db, close } = openDb(join(dir, "db.sqlite")));
});
test.after.each(() => {
  close();
  rmSync(dir, { recursive: true, force: true });
});

const hash = (i: number) =>
  String(i)
    .padStart(32, "a")
    .replace(/[eotu]/g, "a");

async function addBuild(
  opts: { system?: string; features?: string[]; priority?: number; deps?: number[] } = {},
) {
  n++;
  const row = await db
    .insert(builds)
    .values({
      drvPath: `/nix/store/${hash(n)}-p${n}.drv`,
      system: opts.system ?? "x86_64-linux",
      requiredFeatures: opts.features ?? [],
      outputs: { out: `/nix/store/${hash(n + 5000)}-p${n}` },
      state: "queued",
      priority: opts.priority ?? 0,
    })
    .returning()
    .then(one);
  for (const d of opts.deps ?? []) await db.insert(buildDeps).values({ buildId: row.id, dependsOn: d });
  return row.id;
}

const state = async (id: number) =>
  (await db.select().from(builds).where(eq(builds.id, id)).then(first))?.state;
const req = (over: Partial<ClaimRequest> = {}): ClaimRequest => ({
  builderName: "b1",
  systems: ["x86_64-linux"],
  features: [],
  maxJobs: 10,
  ...over,
});

async function storeOutputs(id: number) {
  const b = await db.select().from(builds).where(eq(builds.id, id)).then(first);
  for (const p of Object.values(b?.outputs ?? {})) {
    const h = p.slice(11, 43);
    await db.insert(cachePaths).values({
      hash: h,
      storePath: p,
      narFile: `nar/${h}.nar`,
      narHash: "sha256:x",
      narSize: 1,
      fileSize: 1,
      compression: "none",
      references: [],
    });
  }
}

test("dependencies gate the claim; success releases dependents", async () => {
  const c = await addBuild();
  const b = await addBuild({ deps: [c], priority: 10 });
  const first = await claimBuild(db, req());
  assert.is(first?.id, c, "b waits for c despite its priority");
  assert.is(await claimBuild(db, req()), null);
  await storeOutputs(c);
  assert.is(await finishBuild(db, c, first?.leaseId ?? "", { status: "succeeded" }), "succeeded");
  assert.is((await claimBuild(db, req()))?.id, b);
});

test("priority, then age", async () => {
  const low = await addBuild();
  const high = await addBuild({ priority: 5 });
  assert.is((await claimBuild(db, req()))?.id, high);
  assert.is((await claimBuild(db, req()))?.id, low);
});

test("system and required features must match", async () => {
  const arm = await addBuild({ system: "aarch64-linux" });
  const kvm = await addBuild({ features: ["kvm"] });
  assert.is(await claimBuild(db, req()), null);
  assert.is((await claimBuild(db, req({ features: ["kvm", "big-parallel"] })))?.id, kvm);
  assert.is((await claimBuild(db, req({ systems: ["aarch64-linux", "x86_64-linux"] })))?.id, arm);
});

test("maxJobs caps the live leases of one builder", async () => {
  await addBuild();
  await addBuild();
  assert.ok(await claimBuild(db, req({ maxJobs: 1 })));
  assert.is(await claimBuild(db, req({ maxJobs: 1 })), null);
  assert.ok(await claimBuild(db, req({ builderName: "b2", maxJobs: 1 })));
});

test("a failure cascades dependency-failed through queued dependents", async () => {
  const c = await addBuild();
  const b = await addBuild({ deps: [c] });
  const a = await addBuild({ deps: [b] });
  const other = await addBuild();
  const claimed = await claimBuild(db, req());
  assert.is(claimed?.id, c);
  assert.is(await finishBuild(db, c, claimed?.leaseId ?? "", { status: "failed" }), "failed");
  assert.is(await state(b), "dependency-failed");
  assert.is(await state(a), "dependency-failed");
  assert.is(await state(other), "queued");
  assert.is((await db.select().from(buildLeases)).length, 0);
});

test("a reported success without outputs in the Storehouse is an infrastructure error", async () => {
  const x = await addBuild();
  const cl = await claimBuild(db, req());
  assert.is(await finishBuild(db, x, cl?.leaseId ?? "", { status: "succeeded" }), "queued");
});

test("infrastructure errors requeue up to the attempt limit, then abort", async () => {
  const x = await addBuild();
  const dep = await addBuild({ deps: [x] });
  for (let i = 1; i <= MAX_ATTEMPTS; i++) {
    const cl = await claimBuild(db, req());
    assert.is(cl?.id, x);
    assert.is(cl?.attempt, i);
    const s = await finishBuild(db, x, cl?.leaseId ?? "", {
      status: "failed",
      infrastructureError: "upload failed",
    });
    assert.is(s, i < MAX_ATTEMPTS ? "queued" : "aborted");
  }
  assert.is(await state(dep), "dependency-failed");
});

test("an expired lease is swept back to the queue; the old lease then fails", async () => {
  const x = await addBuild();
  const cl = await claimBuild(db, req(), 15, 1_000);
  assert.ok(cl);
  assert.is(await sweepExpiredLeases(db, 10_000), 0);
  assert.is(await sweepExpiredLeases(db, 20_000), 1);
  assert.is(await state(x), "queued");
  const lost = await heartbeat(db, x, cl?.leaseId ?? "").then(
    () => "no error",
    (err: Error) => err.message,
  );
  assert.match(lost, /not held/);
  const again = await claimBuild(db, req({ builderName: "b2" }));
  assert.is(again?.attempt, 2);
  assert.is.not(again?.leaseId, cl?.leaseId);
});

test("heartbeat extends the lease and answers cancel after a cancel", async () => {
  const x = await addBuild();
  const cl = await claimBuild(db, req(), 15, 1_000);
  assert.equal(await heartbeat(db, x, cl?.leaseId ?? "", 15, 5_000), {
    cancel: false,
    leaseExpiresAt: 20_000,
  });
  assert.is(await cancelBuild(db, x), "cancelled");
  assert.is((await heartbeat(db, x, cl?.leaseId ?? "")).cancel, true);
  assert.is(await state(x), "cancelled");
});

test.run();
