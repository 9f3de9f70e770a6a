// Cache file names: only well-formed ones reach the disk or the database.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { NarFileName, parseCacheFileName, StoreHash } from "./names.js";

test("only well-formed cache file names pass", () => {
  const h = "0".repeat(32);
  assert.equal(parseCacheFileName(`${h}.narinfo`), { kind: "narinfo", hash: h });
  assert.equal(parseCacheFileName(`${h}.ls`), { kind: "ls", hash: h });
  for (const bad of [
    `${"e".repeat(32)}.narinfo`,
    `${h}0.narinfo`,
    `../${h}.narinfo`,
    `${h}.narinfo.x`,
    ".narinfo",
  ]) {
    assert.is(parseCacheFileName(bad), undefined, bad);
  }
  assert.ok(StoreHash.safeParse(h).success);
  assert.ok(NarFileName.safeParse(`${"1".repeat(52)}.nar`).success);
  assert.ok(NarFileName.safeParse(`${"1".repeat(52)}.nar.br`).success);
  assert.not.ok(NarFileName.safeParse(`${"1".repeat(52)}.nar.exe`).success);
  assert.not.ok(NarFileName.safeParse(`${"1".repeat(52)}.nar/../x`).success);
});

test.run();
