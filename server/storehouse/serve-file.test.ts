// Serving cache files: byte ranges and conditional requests, as nix and curl send them.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { notModified, parseRange } from "./serve-file.js";

test("byte ranges and conditional requests", () => {
  assert.equal(parseRange("bytes=0-9", 100), { kind: "range", start: 0, end: 9 });
  assert.equal(parseRange("bytes=90-", 100), { kind: "range", start: 90, end: 99 });
  assert.equal(parseRange("bytes=-10", 100), { kind: "range", start: 90, end: 99 });
  assert.equal(parseRange("bytes=-1000", 100), { kind: "range", start: 0, end: 99 });
  assert.equal(parseRange("bytes=50-1000", 100), { kind: "range", start: 50, end: 99 });
  assert.equal(parseRange("bytes=100-", 100), { kind: "unsatisfiable" });
  assert.equal(parseRange("bytes=-0", 100), { kind: "unsatisfiable" });
  assert.equal(parseRange("bytes=0-1,5-6", 100), { kind: "none" });
  assert.equal(parseRange("bytes=9-1", 100), { kind: "none" });
  assert.equal(parseRange("items=0-1", 100), { kind: "none" });
  assert.equal(parseRange(undefined, 100), { kind: "none" });
  assert.ok(notModified('"a", "b"', '"b"'));
  assert.ok(notModified('W/"b"', '"b"'));
  assert.ok(notModified("*", '"b"'));
  assert.not.ok(notModified('"c"', '"b"'));
  assert.not.ok(notModified(undefined, '"b"'));
});

test.run();
