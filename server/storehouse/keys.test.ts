// The Storehouse's signing key: made once, in Nix's format, under a name safe for any host.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseSecretKey, publicKeyOf } from "../../lib/signature.js";
import { defaultKeyName, ensureSigningKey, SigningKeyError } from "./keys.js";

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

test.run();
