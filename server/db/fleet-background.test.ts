/**
 * Background work that must stay one-at-a-time across a fleet, with real servers on one real PostgreSQL: the
 * Storehouse's GC asked for on two servers runs once after the other (the fleet-wide GC lock), a server joining
 * mid-run does not call the running collection abandoned, and a server killed mid-run has its run recovered by the
 * next collection elsewhere. And relay sessions: each server ends only the sessions of runs that are gone.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Fleet, startFleet } from "../../testing/fleet-of-servers.js";
import { queryPostgres } from "../../testing/postgres.js";
import type { TestServer } from "../../testing/server.js";
import { narinfoStatus, uploadPath } from "../../testing/storehouse-state.js";
import { prepareUpload, type Upload } from "../../testing/storehouse-uploads.js";
import { waitFor } from "../../testing/wait-for.js";
import { endOrphanedSessions, openSession } from "../nix-daemon/sessions.js";
import { openDatabase } from "./open.js";
import { LOCK } from "./server-locks.js";

let fleet: Fleet;
let a: TestServer;
let b: TestServer;
let builderToken = "";
/** A pause after each deleted path, so a run lasts long enough to meet another. */
const SLOW = { FLOX_TEST_GC_BATCH_DELAY_MS: "100" };

interface RunRow {
  id: number;
  state: string;
  trigger: string;
  paths: number;
  started_at: string;
  finished_at: string | null;
}
const runs = () =>
  queryPostgres<RunRow>(
    fleet.databaseUrl,
    "select id, state, trigger, paths, started_at, finished_at from gc_runs order by id",
    [],
  );

async function uploadGarbage(count: number, tag: string): Promise<Upload[]> {
  const all: Upload[] = [];
  for (let i = 0; i < count; i++) {
    const u = await prepareUpload(`garbage-${tag}-${i}`, { f: `${tag} ${i} ${Math.random()}` });
    await uploadPath(a.url, builderToken, u);
    all.push(u);
  }
  return all;
}

test.before(async () => {
  fleet = await startFleet("fleet-background", { store: "file" });
  a = await fleet.start({ ...SLOW });
  b = await fleet.start({ ...SLOW });
  const t = await a.api("POST", "/api/v1/tokens", { scope: "builder", name: "uploader" });
  assert.is(t.status, 201, JSON.stringify(t.body));
  builderToken = t.body.secret;
});

test.after(async () => {
  await fleet?.stop();
});

test("GC asked on two servers: B's run starts after A's ends; a server joining meanwhile leaves A's run alone", async () => {
  const garbage = await uploadGarbage(30, "one");
  const onA = a.api("POST", "/api/v1/storehouse/gc", {});
  await waitFor("A's collection to be under way", () => (runs().at(-1)?.paths ?? 0) >= 3, {
    timeoutMs: 30_000,
  });
  // A third server starting now recovers only runs no server is running.
  const joining = await fleet.start();
  assert.is(runs().at(-1)?.state, "running", "a server that joined did not mark A's run abandoned");
  const onB = b.api("POST", "/api/v1/storehouse/gc", {});
  const [ra, rb] = await Promise.all([onA, onB]);
  assert.is(ra.status, 200, JSON.stringify(ra.body));
  assert.is(rb.status, 200, JSON.stringify(rb.body));
  assert.is(ra.body.gc.paths, 30, "A's run took every unreachable path");
  assert.is(rb.body.gc.paths, 0, "B's run came after and found nothing left");
  const [first, second] = runs().slice(-2) as [RunRow, RunRow];
  assert.is(first.state, "finished");
  assert.is(second.state, "finished");
  assert.ok(
    first.finished_at !== null && Date.parse(second.started_at) >= Date.parse(first.finished_at),
    `B's run started ${second.started_at}, before A's ended ${first.finished_at}`,
  );
  for (const g of [garbage[0], garbage[29]])
    assert.is(await narinfoStatus(b.url, g?.storePath ?? ""), 404, "collected paths are gone fleet-wide");
  await joining.stop();
});

test("a server killed mid-GC: the next collection on another server marks its run failed and takes the rest", async () => {
  const garbage = await uploadGarbage(30, "two");
  const previous = runs().at(-1)?.id ?? 0;
  const dying = a.api("POST", "/api/v1/storehouse/gc", {}).catch(() => undefined);
  await waitFor(
    "A's collection to be under way",
    () => {
      const r = runs().at(-1);
      return r !== undefined && r.id > previous && r.paths >= 3;
    },
    { timeoutMs: 30_000 },
  );
  await fleet.kill(a);
  await dying;
  const cut = runs().at(-1) as RunRow;
  assert.is(cut.state, "running", "the killed run is left running by its dead server");
  const r = await b.api("POST", "/api/v1/storehouse/gc", {});
  assert.is(r.status, 200, JSON.stringify(r.body));
  const killed = runs().find((x) => x.id === cut.id);
  assert.is(killed?.state, "failed", "B's collection recorded A's run as cut short");
  assert.is(cut.paths + r.body.gc.paths + r.body.gc.resumed >= 30, true, JSON.stringify(r.body.gc));
  for (const g of garbage) assert.is(await narinfoStatus(b.url, g.storePath), 404, `${g.storePath} left`);
  assert.equal(
    queryPostgres(fleet.databaseUrl, "select * from gc_journal", []),
    [],
    "the journal A left was replayed",
  );
});

test("relay sessions: a sweep ends those of a run whose lock is gone, never a live server's", async () => {
  // Two servers' database sides (each with its own run lock), as `flox server` opens them.
  const one = await openDatabase(fleet.databaseUrl);
  const two = await openDatabase(fleet.databaseUrl);
  try {
    const l1 = one.locks;
    const l2 = two.locks;
    if (!l1 || !l2) throw new Error("PostgreSQL opened without server locks");
    await Promise.all([l1.settled, l2.settled]);
    const org = await b.api("POST", "/api/v1/orgs", { name: "relayorg" });
    assert.is(org.status, 201, JSON.stringify(org.body));
    const token = await b.api("POST", "/api/v1/tokens", { scope: "org", org: "relayorg", role: "member" });
    assert.is(token.status, 201, JSON.stringify(token.body));
    const [{ id: orgId } = { id: 0 }] = queryPostgres<{ id: number }>(
      fleet.databaseUrl,
      "select id from orgs where name = ?",
      ["relayorg"],
    );
    const session = (serverRun: number) =>
      openSession(one.db, {
        orgId,
        tokenId: token.body.token.id,
        actor: "t",
        host: null,
        remoteAddress: null,
        serverRun,
      });
    const mine = await session(l1.runId);
    const theirs = await session(l2.runId);
    const alive = async (run: number) => run === l1.runId || (await l1.heldElsewhere(LOCK.run(run)));
    assert.is(await endOrphanedSessions(one.db, alive), 0, "both runs live: nothing ended");
    // The other server's connection dies with it (as a kill -9 closes its socket).
    await two.close();
    await waitFor(
      "the other run's lock to be free",
      async () => !(await l1.heldElsewhere(LOCK.run(l2.runId))),
    );
    assert.is(await endOrphanedSessions(one.db, alive), 1);
    const rows = queryPostgres<{ id: number; end_reason: string | null }>(
      fleet.databaseUrl,
      "select id, end_reason from relay_sessions where id in (?, ?) order by id",
      [mine, theirs],
    );
    assert.equal(rows, [
      { id: mine, end_reason: null },
      { id: theirs, end_reason: "server" },
    ]);
  } finally {
    await one.close();
    await two.close().catch(() => undefined);
  }
});

test.run();
