import { createHash } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createNixTestStore, NixCommandError, type NixTestStore } from "../testing/nix-store.js";
import { decodeNix32, encodeNix32, isNix32, Nix32DecodeError, nix32Length } from "./nix32.js";

let nix: NixTestStore;
test.before(async () => {
  nix = await createNixTestStore();
});
test.after(async () => {
  await nix.cleanup();
});

/** Edge patterns plus digests: every bit position of every length Nix prints in nix32. */
function samples(size: number): Buffer[] {
  const out = [
    Buffer.alloc(size, 0),
    Buffer.alloc(size, 0xff),
    Buffer.alloc(size, 0x80),
    Buffer.alloc(size, 0x01),
  ];
  for (let i = 0; i < 6; i++) {
    out.push(createHash("sha512").update(`flox nix32 ${size} ${i}`).digest().subarray(0, size));
  }
  const lastByte = Buffer.alloc(size, 0);
  lastByte[size - 1] = 0xa5;
  out.push(lastByte);
  return out;
}

const ALGO_OF_SIZE: Record<number, string> = { 16: "md5", 20: "sha1", 32: "sha256", 64: "sha512" };

for (const size of [16, 20, 32, 64]) {
  test(`encodeNix32 of ${size} bytes matches nix-hash --to-base32, and decodes back`, async () => {
    const bytes = samples(size);
    const hexes = bytes.map((b) => b.toString("hex"));
    const fromNix = (
      await nix.run("nix-hash", ["--type", ALGO_OF_SIZE[size] as string, "--to-base32", ...hexes])
    ).split("\n");
    assert.is(fromNix.length, bytes.length);
    bytes.forEach((b, i) => {
      const encoded = encodeNix32(b);
      assert.is(encoded, fromNix[i]);
      assert.is(encoded.length, nix32Length(size));
      assert.equal(decodeNix32(fromNix[i] as string), b);
    });
  });
}

test("lengths: sha256 is 52 characters, a store-path hash 32", () => {
  assert.is(nix32Length(32), 52);
  assert.is(nix32Length(20), 32);
  assert.is(encodeNix32(new Uint8Array(0)), "");
  assert.equal(decodeNix32(""), Buffer.alloc(0));
});

// Each of these is also refused by `nix-hash --to-base16` (checked below), so we agree with Nix.
const REJECTED = [
  "e000000000000000000000000000000000000000000000000000", // 'e' is not in the alphabet
  "0o00000000000000000000000000000000000000000000000000", // nor 'o'
  "000000000000000000000000000000000000000000000000000u", // nor 'u'
  "t000000000000000000000000000000000000000000000000000", // nor 't'
  "2000000000000000000000000000000000000000000000000000", // sets a 257th bit
  "00000000000000000000000000000000000000000000000000A0", // upper case
];

test("decodeNix32 rejects what Nix rejects, with Nix32DecodeError", async () => {
  for (const s of REJECTED) {
    assert.throws(
      () => decodeNix32(s),
      (e: unknown) => e instanceof Nix32DecodeError,
      s,
    );
    assert.not.ok(isNix32(s));
    try {
      await nix.run("nix-hash", ["--type", "sha256", "--to-base16", s]);
      assert.unreachable(`nix-hash accepted ${s}`);
    } catch (e) {
      assert.instance(e, NixCommandError);
    }
  }
  // The top character of a sha256 may only carry one bit: '1' is the largest allowed.
  assert.is(decodeNix32(`1${"0".repeat(51)}`).toString("hex"), `${"00".repeat(31)}80`);
});

test("decodeNix32 rejects lengths no byte string encodes to", () => {
  for (const len of [1, 3, 6, 51, 54]) {
    assert.throws(
      () => decodeNix32("0".repeat(len)),
      (e: unknown) => e instanceof Nix32DecodeError,
      String(len),
    );
  }
  assert.not.ok(isNix32("0".repeat(52), 20));
  assert.ok(isNix32("0".repeat(32), 20));
});

test.run();
