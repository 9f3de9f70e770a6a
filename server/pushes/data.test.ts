import { test } from "uvu";
import * as assert from "uvu/assert";
import { createTestApp } from "../../testing/app.js";
import { createOrg } from "../orgs/orgs.js";
import { lastRecordedShas, listPushes, missingUpdates, recordPush } from "./data.js";

const a = "a".repeat(40);
const b = "b".repeat(40);
const zero = "0".repeat(40);

test("refs that match their last record need nothing", () => {
  assert.equal(missingUpdates(new Map([["refs/heads/main", a]]), new Map([["refs/heads/main", a]])), []);
});

test("moved, new and vanished refs each get one update", () => {
  const recorded = new Map([
    ["refs/heads/main", a],
    ["refs/heads/gone", b],
    ["refs/heads/deleted", zero],
  ]);
  const current = new Map([
    ["refs/heads/main", b],
    ["refs/tags/v1", a],
  ]);
  assert.equal(missingUpdates(recorded, current), [
    { ref: "refs/heads/gone", oldSha: b, newSha: zero, pushOptions: [] },
    { ref: "refs/heads/main", oldSha: a, newSha: b, pushOptions: [] },
    { ref: "refs/tags/v1", oldSha: zero, newSha: a, pushOptions: [] },
  ]);
});

test("the last record of each ref wins, per org", async () => {
  const t = await createTestApp();
  try {
    const ctx = { db: t.db, paths: t.paths };
    const acme = await createOrg(ctx, { name: "acme" });
    const other = await createOrg(ctx, { name: "other" });
    await recordPush(t.db, acme, { ref: "refs/heads/main", oldSha: zero, newSha: a, pushOptions: ["wait"] });
    await recordPush(t.db, acme, { ref: "refs/heads/main", oldSha: a, newSha: b, pushOptions: [] });
    await recordPush(
      t.db,
      acme,
      { ref: "refs/heads/dev", oldSha: zero, newSha: a, pushOptions: [] },
      "reconciled",
    );
    await recordPush(t.db, other, { ref: "refs/heads/main", oldSha: zero, newSha: a, pushOptions: [] });
    assert.equal(
      await lastRecordedShas(t.db, acme),
      new Map([
        ["refs/heads/main", b],
        ["refs/heads/dev", a],
      ]),
    );
    const listed = await listPushes(t.db, acme);
    assert.equal(
      listed.map((p) => [p.ref, p.newSha, p.source]),
      [
        ["refs/heads/dev", a, "reconciled"],
        ["refs/heads/main", b, "hook"],
        ["refs/heads/main", a, "hook"],
      ],
    );
    assert.equal(listed[2]?.pushOptions, ["wait"]);
  } finally {
    t.cleanup();
  }
});

test.run();
