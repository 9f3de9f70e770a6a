// The claim transaction and result rules, in-process against a fresh database.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Db, openDb } from "../db/open.js";
import { buildDeps, buildLeases, builds, cachePaths } from "../db/schema.js";
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

function addBuild(opts: { system?: string; features?: string[]; priority?: number; deps?: number[] } = {}) {
  n++;
  const row = db
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
    .get();
  for (const d of opts.deps ?? []) db.insert(buildDeps).values({ buildId: row.id, dependsOn: d }).run();
  return row.id;
}

const state = (id: number) => db.select().from(builds).where(eq(builds.id, id)).get()?.state;
const req = (over: Partial<ClaimRequest> = {}): ClaimRequest => ({
  builderName: "b1",
  systems: ["x86_64-linux"],
  features: [],
  maxJobs: 10,
  ...over,
});

function storeOutputs(id: number) {
  const b = db.select().from(builds).where(eq(builds.id, id)).get();
  for (const p of Object.values(b?.outputs ?? {})) {
    const h = p.slice(11, 43);
    db.insert(cachePaths)
      .values({
        hash: h,
        storePath: p,
        narFile: `nar/${h}.nar`,
        narHash: "sha256:x",
        narSize: 1,
        fileSize: 1,
        compression: "none",
        references: [],
      })
      .run();
  }
}

test("dependencies gate the claim; success releases dependents", () => {
  const c = addBuild();
  const b = addBuild({ deps: [c], priority: 10 });
  const first = claimBuild(db, req());
  assert.is(first?.id, c, "b waits for c despite its priority");
  assert.is(claimBuild(db, req()), null);
  storeOutputs(c);
  assert.is(finishBuild(db, c, first?.leaseId ?? "", { status: "succeeded" }), "succeeded");
  assert.is(claimBuild(db, req())?.id, b);
});

test("priority, then age", () => {
  const low = addBuild();
  const high = addBuild({ priority: 5 });
  assert.is(claimBuild(db, req())?.id, high);
  assert.is(claimBuild(db, req())?.id, low);
});

test("system and required features must match", () => {
  const arm = addBuild({ system: "aarch64-linux" });
  const kvm = addBuild({ features: ["kvm"] });
  assert.is(claimBuild(db, req()), null);
  assert.is(claimBuild(db, req({ features: ["kvm", "big-parallel"] }))?.id, kvm);
  assert.is(claimBuild(db, req({ systems: ["aarch64-linux", "x86_64-linux"] }))?.id, arm);
});

test("maxJobs caps the live leases of one builder", () => {
  addBuild();
  addBuild();
  assert.ok(claimBuild(db, req({ maxJobs: 1 })));
  assert.is(claimBuild(db, req({ maxJobs: 1 })), null);
  assert.ok(claimBuild(db, req({ builderName: "b2", maxJobs: 1 })));
});

test("a failure cascades dependency-failed through queued dependents", () => {
  const c = addBuild();
  const b = addBuild({ deps: [c] });
  const a = addBuild({ deps: [b] });
  const other = addBuild();
  const claimed = claimBuild(db, req());
  assert.is(claimed?.id, c);
  assert.is(finishBuild(db, c, claimed?.leaseId ?? "", { status: "failed" }), "failed");
  assert.is(state(b), "dependency-failed");
  assert.is(state(a), "dependency-failed");
  assert.is(state(other), "queued");
  assert.is(db.select().from(buildLeases).all().length, 0);
});

test("a reported success without outputs in the Storehouse is an infrastructure error", () => {
  const x = addBuild();
  const cl = claimBuild(db, req());
  assert.is(finishBuild(db, x, cl?.leaseId ?? "", { status: "succeeded" }), "queued");
});

test("infrastructure errors requeue up to the attempt limit, then abort", () => {
  const x = addBuild();
  const dep = addBuild({ deps: [x] });
  for (let i = 1; i <= MAX_ATTEMPTS; i++) {
    const cl = claimBuild(db, req());
    assert.is(cl?.id, x);
    assert.is(cl?.attempt, i);
    const s = finishBuild(db, x, cl?.leaseId ?? "", {
      status: "failed",
      infrastructureError: "upload failed",
    });
    assert.is(s, i < MAX_ATTEMPTS ? "queued" : "aborted");
  }
  assert.is(state(dep), "dependency-failed");
});

test("an expired lease is swept back to the queue; the old lease then fails", () => {
  const x = addBuild();
  const cl = claimBuild(db, req(), 15, 1_000);
  assert.ok(cl);
  assert.is(sweepExpiredLeases(db, 10_000), 0);
  assert.is(sweepExpiredLeases(db, 20_000), 1);
  assert.is(state(x), "queued");
  assert.throws(() => heartbeat(db, x, cl?.leaseId ?? ""), /not held/);
  const again = claimBuild(db, req({ builderName: "b2" }));
  assert.is(again?.attempt, 2);
  assert.is.not(again?.leaseId, cl?.leaseId);
});

test("heartbeat extends the lease and answers cancel after a cancel", () => {
  const x = addBuild();
  const cl = claimBuild(db, req(), 15, 1_000);
  assert.equal(heartbeat(db, x, cl?.leaseId ?? "", 15, 5_000), { cancel: false, leaseExpiresAt: 20_000 });
  assert.is(cancelBuild(db, x), "cancelled");
  assert.is(heartbeat(db, x, cl?.leaseId ?? "").cancel, true);
  assert.is(state(x), "cancelled");
});

test.run();
