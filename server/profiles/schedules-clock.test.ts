/**
 * The scheduler on a fake clock: cron slots fire at their times and record them, a run still going is not doubled,
 * a slot missed before start (or while another server of a fleet led) is made up once, and stop() leaves no
 * timer. No test here waits for the wall clock.
 */
import { EventEmitter } from "node:events";
import pino from "pino";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createTestApp, type TestApp } from "../../testing/app.js";
import { type FakeClock, fakeClock } from "../../testing/fake-clock.js";
import type { ChannelPublisher } from "../channels/channels.js";
import { one } from "../db/raw.js";
import { orgs, profileSchedules, profiles } from "../db/tables.js";
import type { ProfileEditor } from "./editor.js";
import { ProfileScheduler } from "./schedules.js";

const start = new Date("2026-01-01T00:00:01.000Z");

interface Call {
  profileId: number;
  author: string;
  reason: string;
}

let t: TestApp;
let clock: FakeClock;
let calls: Call[];
let hold: Promise<void> | undefined;

const editor = {
  async upgrade(profile: { id: number }, _canRead: unknown, meta: { author: string; reason: string }) {
    calls.push({ profileId: profile.id, author: meta.author, reason: meta.reason });
    await hold;
    return { profile, generation: null };
  },
} as unknown as ProfileEditor;

async function addProfile(
  name: string,
  schedule: { kind: "cron" | "off"; cron?: string; lastRunAt: string },
): Promise<number> {
  const [existing] = await t.db.select().from(orgs);
  const org =
    existing ?? one(await t.db.insert(orgs).values({ name: "acme", displayName: "acme" }).returning());
  const p = await t.db.insert(profiles).values({ orgId: org.id, name }).returning().then(one);
  await t.db.insert(profileSchedules).values({
    profileId: p.id,
    kind: schedule.kind,
    cron: schedule.cron ?? null,
    lastRunAt: schedule.lastRunAt,
  });
  return p.id;
}

const lastRunAt = async (profileId: number) =>
  (await t.db.select().from(profileSchedules)).find((r) => r.profileId === profileId)?.lastRunAt;

function scheduler(leading?: () => boolean): ProfileScheduler {
  return new ProfileScheduler({
    db: t.db,
    editor,
    channels: new EventEmitter() as unknown as ChannelPublisher,
    logger: pino({ level: "silent" }),
    clock,
    ...(leading ? { leading } : {}),
  });
}

test.before.each(async () => {
  t = await createTestApp();
  clock = fakeClock(start);
  calls = [];
  hold = undefined;
});

test.after.each(() => {
  t.cleanup();
});

test("cron slots fire at their times and record the slot they ran for", async () => {
  const id = await addProfile("every-2s", {
    kind: "cron",
    cron: "*/2 * * * * *",
    lastRunAt: start.toISOString(),
  });
  const off = await addProfile("off", { kind: "off", lastRunAt: start.toISOString() });
  const s = scheduler();
  await s.start();
  await clock.advance(999);
  assert.is(calls.length, 0, "the first slot (00:00:02) has not come");
  await clock.advance(1);
  assert.equal(calls, [{ profileId: id, author: "schedule (cron)", reason: "cron */2 * * * * *" }]);
  assert.is(await lastRunAt(id), "2026-01-01T00:00:02.000Z");
  await clock.advance(4000);
  assert.is(calls.length, 3, "the slots at 00:00:04 and 00:00:06");
  assert.is(await lastRunAt(id), "2026-01-01T00:00:06.000Z");
  assert.ok(
    calls.every((c) => c.profileId !== off),
    "an off schedule never runs",
  );
  s.stop();
  assert.is(clock.pending(), 0, "stop leaves no timer");
});

test("a run still going when the next slot comes is not doubled", async () => {
  await addProfile("slow", { kind: "cron", cron: "*/2 * * * * *", lastRunAt: start.toISOString() });
  let release = () => {};
  hold = new Promise<void>((r) => {
    release = r;
  });
  const s = scheduler();
  await s.start();
  await clock.advance(7000);
  assert.is(calls.length, 1, "the slots at 4 s and 6 s found the 2 s run still going");
  release();
  await clock.advance(2000);
  assert.is(calls.length, 2, "the 8 s slot runs again");
  s.stop();
});

test("a slot missed before start is made up once, then the schedule goes on", async () => {
  const id = await addProfile("daily", {
    kind: "cron",
    cron: "0 4 * * *",
    lastRunAt: new Date(start.getTime() - 3 * 86400_000).toISOString(),
  });
  const s = scheduler();
  await s.start();
  await clock.advance(0);
  assert.is(calls.length, 1);
  assert.match(calls[0]?.reason ?? "", /^catch-up of the .* run \(0 4 \* \* \*\)$/);
  await clock.advance(86400_000);
  assert.is(calls.length, 2, "the next 04:00");
  assert.is(calls[1]?.reason, "cron 0 4 * * *");
  assert.ok(Date.parse((await lastRunAt(id)) ?? "") > start.getTime());
  s.stop();
});

test("a fleet: a slot that passed while another server led is made up once this one takes the lead", async () => {
  const id = await addProfile("fleet", {
    kind: "cron",
    cron: "*/10 * * * * *",
    lastRunAt: start.toISOString(),
  });
  let leader = false;
  const s = scheduler(() => leader);
  await s.start();
  await clock.advance(10_000);
  assert.is(calls.length, 0, "the 00:00:10 slot belongs to the leader, which died at it");
  leader = true;
  await clock.advance(2000);
  assert.equal(calls, [
    {
      profileId: id,
      author: "schedule (cron)",
      reason: "catch-up of the 2026-01-01T00:00:10.000Z run (*/10 * * * * *)",
    },
  ]);
  assert.is(await lastRunAt(id), "2026-01-01T00:00:10.000Z");
  await clock.advance(4000);
  assert.is(calls.length, 1, "made up once, not at every look");
  await clock.advance(4000);
  assert.is(calls.length, 2, "then the 00:00:20 slot as usual");
  assert.is(calls[1]?.reason, "cron */10 * * * * *");
  s.stop();
  assert.is(clock.pending(), 0, "stop leaves no timer, the lead watch's included");
});

test("reload re-arms a changed schedule and drops the old timer", async () => {
  const id = await addProfile("changes", {
    kind: "cron",
    cron: "*/2 * * * * *",
    lastRunAt: start.toISOString(),
  });
  const s = scheduler();
  await s.start();
  await t.db.update(profileSchedules).set({ kind: "off", cron: null });
  await s.reload(id);
  assert.is(clock.pending(), 0);
  await clock.advance(10_000);
  assert.is(calls.length, 0);
  s.stop();
});

test.run();
