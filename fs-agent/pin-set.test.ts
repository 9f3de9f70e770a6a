// The pin set in process: reasons add up per path, and a path is unpinned only when its last reason goes.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { PinSet } from "./pin-set.js";

test("a path stays pinned until its last reason is removed", () => {
  const pins = new PinSet();
  pins.add(["a-x", "b-y"], "profile:acme/dev@1");
  pins.add(["b-y"], "download");
  assert.ok(pins.has("a-x"));
  assert.ok(pins.has("b-y"));
  assert.not.ok(pins.has("c-z"));
  pins.remove("profile:acme/dev@1");
  assert.not.ok(pins.has("a-x"));
  assert.ok(pins.has("b-y"), "still pinned by the download");
  pins.remove("download");
  assert.not.ok(pins.has("b-y"));
  assert.equal(pins.reasons(), []);
});

test("remove with paths drops the reason from those paths only", () => {
  const pins = new PinSet();
  pins.add(["a-x", "b-y", "c-z"], "profile:acme/dev@2");
  pins.remove("profile:acme/dev@2", ["b-y"]);
  assert.equal(pins.pinnedBy("profile:acme/dev@2"), ["a-x", "c-z"]);
  assert.not.ok(pins.has("b-y"));
});

test("reasons and pinnedBy are sorted and without repeats; count counts pinned paths among those given", () => {
  const pins = new PinSet();
  pins.add(["c-z", "a-x"], "download");
  pins.add(["a-x"], "download");
  pins.add(["a-x"], "profile:acme/dev@3");
  assert.equal(pins.reasons(), ["download", "profile:acme/dev@3"]);
  assert.equal(pins.pinnedBy("download"), ["a-x", "c-z"]);
  assert.is(pins.count(["a-x", "b-y", "c-z", "files/abc"]), 2);
});

test.run();
