import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createNixTestStore, NixCommandError, type NixTestStore } from "../testing/nix-store.js";
import { formatNixHash, type HashAlgo, HashParseError, parseNixHash } from "./hash.js";

let nix: NixTestStore;
test.before(async () => {
  nix = await createNixTestStore();
});
test.after(async () => {
  await nix.cleanup();
});

test("formatNixHash prints what `nix hash file` prints in every encoding", async () => {
  const file = join(nix.dir, "data.bin");
  const bytes = Buffer.from("flox hash test\n\u0000\u00ff binary too");
  await writeFile(file, bytes);
  const digest = createHash("sha256").update(bytes).digest();
  const nixSays = async (flag: string) => nix.run("nix", ["hash", "file", "--type", "sha256", flag, file]);
  assert.is(`sha256:${await nixSays("--base32")}`, formatNixHash(digest, "nix32"));
  assert.is(`sha256:${await nixSays("--base16")}`, formatNixHash(digest, "hex"));
  assert.is(`sha256:${await nixSays("--base64")}`, formatNixHash(digest, "base64"));
  assert.is(await nixSays("--sri"), formatNixHash(digest, "sri"));
});

test("every spelling Nix prints parses back to the same digest, for each algorithm", async () => {
  for (const algo of ["md5", "sha1", "sha256", "sha512"] as HashAlgo[]) {
    const digest = createHash(algo).update(`flox ${algo}`).digest();
    const hex = digest.toString("hex");
    const spellings = await Promise.all(
      ["to-base32", "to-base16", "to-base64", "to-sri"].map((cmd) =>
        nix.run("nix", ["hash", cmd, "--type", algo, hex]),
      ),
    );
    for (const s of spellings) {
      // `nix hash to-sri` prints `algo-…`; the others print the bare body.
      const prefixed = s.startsWith(`${algo}-`) ? s : `${algo}:${s}`;
      const parsed = parseNixHash(prefixed);
      assert.is(parsed.algo, algo, prefixed);
      assert.equal(parsed.digest, digest, prefixed);
    }
  }
});

const SHA256_HEX = "1d0495fcf8173bdbfb423e6e42def545db831dc010c62d1a1093d3130d81a454";
const SHA256_SRI = "sha256-HQSV/PgXO9v7Qj5uQt71RduDHcAQxi0aEJPTEw2BpFQ=";

// What Nix 2.8 decides for each (checked by running `nix hash to-base16` on it below).
const PARITY = [
  `sha256:${SHA256_HEX}`,
  `sha256:${SHA256_HEX.toUpperCase()}`, // hex digits of either case
  SHA256_SRI,
  SHA256_SRI.slice(0, -1), // SRI without padding: Nix accepts it
  "sha256-HQSV/PgXO9v7Qj5uQt71RduDHcAQxi0aEJPTEw2BpFR=", // unused low bits set: Nix ignores them
  `sha256:${SHA256_HEX.slice(2)}`, // too short
  `sha256:${SHA256_HEX}00`, // too long
  `sha256:${"g".repeat(64)}`, // not hex
  "sha256:e000000000000000000000000000000000000000000000000000", // 'e' is not nix32
  "sha256-HQSV/PgXO9v7Qj5uQt71RduDHcAQxi0aEJPTEw2BpF", // SRI too short
  `sha256-${SHA256_HEX}`, // SRI is base64 only
  "sha256-HQSV_PgXO9v7Qj5uQt71RduDHcAQxi0aEJPTEw2BpFQ=", // URL-safe base64 is not Nix's
  `sha3:${SHA256_HEX}`, // unknown algorithm
];

test("parseNixHash accepts and rejects exactly what Nix does", async () => {
  let acceptedByNix = 0;
  for (const s of PARITY) {
    let nixHex: string | undefined;
    try {
      nixHex = await nix.run("nix", ["hash", "to-base16", s]);
    } catch (e) {
      if (!(e instanceof NixCommandError)) throw e;
    }
    let ours: Buffer | undefined;
    try {
      ours = parseNixHash(s).digest;
    } catch (e) {
      if (!(e instanceof HashParseError)) throw e;
    }
    assert.is(ours?.toString("hex"), nixHex, s);
    if (nixHex !== undefined) acceptedByNix++;
  }
  assert.is(acceptedByNix, 5);
});

test("a string without an algorithm, or of another algorithm than expected, is refused", () => {
  assert.throws(
    () => parseNixHash(SHA256_HEX),
    (e: unknown) => e instanceof HashParseError,
  );
  const sha1 = `sha1:${"0".repeat(40)}`;
  assert.is(parseNixHash(sha1).algo, "sha1");
  assert.throws(
    () => parseNixHash(sha1, "sha256"),
    (e: unknown) => e instanceof HashParseError,
  );
  assert.throws(
    () => formatNixHash(Buffer.alloc(20), "nix32"),
    (e: unknown) => e instanceof HashParseError,
  );
});

test.run();
