// The eviction policy in process: when background eviction starts and stops, how much room a fetch makes,
// and the least-recently-used order.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EvictionPolicy, leastRecentlyUsed } from "./eviction.js";

test("background eviction starts above the high watermark and aims for the low one", () => {
  const p = new EvictionPolicy(1000);
  assert.not.ok(p.shouldCollect(900));
  assert.ok(p.shouldCollect(901));
  assert.is(p.collectGoal, 700);
  const custom = new EvictionPolicy(1000, 0.5, 0.25);
  assert.ok(custom.shouldCollect(501));
  assert.is(custom.collectGoal, 250);
});

test("a fetch that fits makes no room; one that does not evicts down to the low watermark or further", () => {
  const p = new EvictionPolicy(1000);
  assert.is(p.roomGoal(500, 100, 400), undefined, "exactly the quota fits");
  assert.is(
    p.roomGoal(500, 100, 401),
    499,
    "room for the fetch and what is in flight, below the low watermark",
  );
  assert.is(p.roomGoal(100, 0, 950), 50);
  assert.is(p.roomGoal(900, 0, 101), 700, "never above the low watermark");
  assert.is(p.roomGoal(0, 900, 2000), 0, "never below zero");
});

test("after eviction a fetch goes ahead only when what is cached and in flight fits the quota", () => {
  const p = new EvictionPolicy(1000);
  assert.ok(p.fitsAfterEviction(600, 400));
  assert.not.ok(p.fitsAfterEviction(601, 400));
});

test("least recently used first", () => {
  const entries = new Map([
    ["b", { lastAccess: 20 }],
    ["a", { lastAccess: 30 }],
    ["c", { lastAccess: 10 }],
  ]);
  assert.equal(leastRecentlyUsed(entries), ["c", "b", "a"]);
  assert.equal(leastRecentlyUsed([]), []);
});

test.run();
