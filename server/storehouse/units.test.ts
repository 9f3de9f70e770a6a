import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseSecretKey, publicKeyOf } from "../../lib/signature.js";
import { defaultKeyName, ensureSigningKey, SigningKeyError } from "./keys.js";
import { NarFileName, parseCacheFileName, StoreHash } from "./names.js";
import { notModified, parseRange } from "./serve-file.js";

test("the signing key is made once, in Nix's format, and kept", async () => {
  const dir = mkdtempSync(join(tmpdir(), "flox-keys-"));
  try {
    const a = await ensureSigningKey(dir, "flox-test-1");
    const secret = readFileSync(join(dir, "secret-key"), "utf8");
    assert.is(statSync(join(dir, "secret-key")).mode & 0o777, 0o600);
    assert.is(publicKeyOf(parseSecretKey(secret)), a.publicKey);
    assert.is(readFileSync(join(dir, "public-key"), "utf8"), a.publicKey);
    rmSync(join(dir, "public-key"));
    const b = await ensureSigningKey(dir, "another-name-1");
    assert.is(b.publicKey, a.publicKey);
    assert.is(readFileSync(join(dir, "public-key"), "utf8"), a.publicKey);
    writeFileSync(join(dir, "secret-key"), "garbage");
    try {
      await ensureSigningKey(dir);
      assert.unreachable("a corrupt key must stop the server");
    } catch (err) {
      assert.instance(err, SigningKeyError);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("key names are safe whatever the host is called", () => {
  assert.is(defaultKeyName("build01.example.org"), "flox-build01.example.org-1");
  assert.is(defaultKeyName("we:ird host"), "flox-we-ird-host-1");
  assert.is(defaultKeyName(""), "flox-local-1");
});

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
