// The database's own garbage: feed events older than the window go (the newest of each subject stays), and expired
// web sessions go; a dry run only counts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { openDb } from "../../db/open.js";
import { changeEvents, tokens, webSessions } from "../../db/tables.js";
import { ensureAdminToken } from "../../orgs/tokens.js";
import { pruneChangeEvents, pruneExpiredSessions } from "./prune-rows.js";

const now = new Date("2026-12-06T00:00:00.000Z");
const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000).toISOString();

test("old feed events and expired sessions are pruned; the newest event of each subject and live sessions stay", async () => {
  const dir = mkdtempSync(join(tmpdir(), "flox-prune-"));
  const { db, close } = openDb(join(dir, "db.sqlite"));
  try {
    await db.insert(changeEvents).values([
      { kind: "profile", action: "install", createdAt: daysAgo(60) },
      { kind: "profile", action: "upgrade", createdAt: daysAgo(45) },
      { kind: "profile", action: "upgrade", createdAt: daysAgo(1) },
      { kind: "channel", action: "advanced", createdAt: daysAgo(90) },
    ]);
    assert.is(await pruneChangeEvents(db, now, 30, true), 2, "a dry run counts");
    assert.is((await db.select().from(changeEvents)).length, 4, "…and deletes nothing");
    assert.is(await pruneChangeEvents(db, now, 30, false), 2);
    const left = (await db.select().from(changeEvents)).map((e) => `${e.kind}:${e.action}`);
    assert.equal(
      left.sort(),
      ["channel:advanced", "profile:upgrade"],
      "the newest per subject stays, however old",
    );

    await ensureAdminToken(db, `flox_prune-test-admin-${"0".repeat(24)}`);
    const [token] = await db.select({ id: tokens.id }).from(tokens);
    const tokenId = token?.id ?? 0;
    await db.insert(webSessions).values([
      { id: "gone", tokenId, csrf: "a", expiresAt: daysAgo(1) },
      { id: "live", tokenId, csrf: "b", expiresAt: daysAgo(-1) },
    ]);
    assert.is(await pruneExpiredSessions(db, now, true), 1);
    assert.is(await pruneExpiredSessions(db, now, false), 1);
    assert.equal(
      (await db.select({ id: webSessions.id }).from(webSessions)).map((s) => s.id),
      ["live"],
    );
  } finally {
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
