import { setTimeout as sleep } from "node:timers/promises";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KeyedMutex } from "./keyed-mutex.js";

test("holders of one key run one after the other, in arrival order", async () => {
  const mutex = new KeyedMutex();
  const events: string[] = [];
  const run = async (name: string, ms: number) => {
    const release = await mutex.acquire("repo");
    events.push(`${name} in`);
    await sleep(ms);
    events.push(`${name} out`);
    release();
  };
  await Promise.all([run("a", 20), run("b", 1), run("c", 1)]);
  assert.equal(events, ["a in", "a out", "b in", "b out", "c in", "c out"]);
  assert.not.ok(mutex.busy("repo"));
});

test("different keys do not wait for each other; releasing twice is harmless", async () => {
  const mutex = new KeyedMutex();
  const a = await mutex.acquire("a");
  const b = await Promise.race([mutex.acquire("b"), sleep(50).then(() => undefined)]);
  assert.ok(b, "key b waited for key a");
  a();
  a();
  b?.();
  const again = await Promise.race([mutex.acquire("a"), sleep(50).then(() => undefined)]);
  assert.ok(again);
  again?.();
});

test.run();
