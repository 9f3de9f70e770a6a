import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createNixTestStore, NixCommandError, type NixTestStore } from "../testing/nix-store.js";
import { formatNixHash, parseNixHash } from "./hash.js";
import { parseNarInfo, serializeNarInfo } from "./narinfo.js";
import {
  FingerprintError,
  fingerprint,
  generateKeyPair,
  KeyFormatError,
  narInfoFingerprint,
  parsePublicKey,
  parseSecretKey,
  publicKeyOf,
  signFingerprint,
  signNarInfo,
  verifyNarInfo,
  verifySignature,
} from "./signature.js";
import { parseStorePath } from "./store-path.js";

let nix: NixTestStore;
let out: string;
let nixSecretKey: string;
let nixPublicKey: string;
let nixSkFile: string;
/** Unsigned `nix copy --to file://…?compression=none` of out's closure. */
let unsignedCache: string;

test.before(async () => {
  nix = await createNixTestStore();
  // Input-addressed outputs (only those need signatures) with two references.
  out = await nix.buildOne(`run "signed+out" "echo \${run "dep" "echo dep > $out"} \${busybox} > $out"`);
  const keys = nix.scratch("keys");
  await mkdir(keys, { recursive: true });
  nixSkFile = join(keys, "sk");
  await nix.run("nix-store", ["--generate-binary-cache-key", "nix-key-1", nixSkFile, join(keys, "pk")]);
  nixSecretKey = await readFile(nixSkFile, "utf8");
  nixPublicKey = await readFile(join(keys, "pk"), "utf8");
  unsignedCache = nix.scratch("unsigned");
  await nix.run("nix", ["copy", "--to", `file://${unsignedCache}?compression=none`, out]);
});
test.after(async () => {
  await nix.cleanup();
});

async function narInfoTexts(cache: string): Promise<Map<string, string>> {
  const files = (await readdir(cache)).filter((f) => f.endsWith(".narinfo")).sort();
  return new Map(
    await Promise.all(files.map(async (f) => [f, await readFile(join(cache, f), "utf8")] as const)),
  );
}

async function nixSucceeds(args: string[]): Promise<boolean> {
  try {
    await nix.run("nix", args);
    return true;
  } catch (e) {
    if (e instanceof NixCommandError) return false;
    throw e;
  }
}

test("keys made by nix-store --generate-binary-cache-key parse, and the public half matches", () => {
  const sk = parseSecretKey(nixSecretKey);
  assert.is(sk.name, "nix-key-1");
  assert.is(sk.seed.length, 32);
  assert.is(publicKeyOf(sk), nixPublicKey);
  const pk = parsePublicKey(nixPublicKey);
  assert.is(pk.name, "nix-key-1");
  assert.equal(pk.key, sk.publicKey);
});

test("our signatures equal the ones Nix writes, byte for byte (ed25519 is deterministic)", async () => {
  const signedCache = nix.scratch("nix-signed");
  await nix.run("nix", [
    "copy",
    "--to",
    `file://${signedCache}?compression=none&secret-key=${nixSkFile}`,
    out,
  ]);
  const unsigned = await narInfoTexts(unsignedCache);
  const signed = await narInfoTexts(signedCache);
  assert.is(signed.size, 3);
  for (const [file, text] of signed) {
    const fromNix = parseNarInfo(text);
    assert.is(fromNix.sigs.length, 1);
    const ours = signNarInfo(parseNarInfo(unsigned.get(file) as string), nixSecretKey);
    assert.equal(ours.sigs, fromNix.sigs, file);
    assert.is(serializeNarInfo(ours), text);
  }
});

test("signatures written by Nix verify; with another key, or after tampering, they do not", async () => {
  const signedCache = nix.scratch("nix-signed-2");
  await nix.run("nix", [
    "copy",
    "--to",
    `file://${signedCache}?compression=none&secret-key=${nixSkFile}`,
    out,
  ]);
  const sameNameOtherKey = generateKeyPair("nix-key-1").publicKey;
  for (const text of (await narInfoTexts(signedCache)).values()) {
    const info = parseNarInfo(text);
    assert.ok(verifyNarInfo(info, [nixPublicKey]));
    assert.ok(verifyNarInfo(info, [generateKeyPair("other").publicKey, nixPublicKey]));
    assert.not.ok(verifyNarInfo(info, [sameNameOtherKey]));
    assert.not.ok(verifyNarInfo(info, []));
    assert.not.ok(verifyNarInfo({ ...info, narSize: info.narSize + 1 }, [nixPublicKey]));
    const extraRef = "mr5g7hhm0mr7prl6hmcgg2yimx1hayzn-extra";
    assert.not.ok(verifyNarInfo({ ...info, references: [...info.references, extraRef] }, [nixPublicKey]));
    const sig = info.sigs[0] as string;
    assert.ok(verifySignature([nixPublicKey], narInfoFingerprint(info), sig));
  }
});

async function signCacheWith(cache: string, secretKey: string): Promise<void> {
  for (const [file, text] of await narInfoTexts(cache)) {
    await writeFile(join(cache, file), serializeNarInfo(signNarInfo(parseNarInfo(text), secretKey)));
  }
}

test("Nix with require-sigs accepts paths we signed with its key, and refuses them under another key", async () => {
  const cache = nix.scratch("we-signed");
  await nix.run("nix", ["copy", "--to", `file://${cache}?compression=none`, out]);
  await signCacheWith(cache, nixSecretKey);
  const copyInto = (dest: string, trusted: string) => [
    "copy",
    "--option",
    "require-sigs",
    "true",
    "--option",
    "trusted-public-keys",
    trusted,
    "--from",
    `file://${cache}`,
    "--to",
    nix.scratch(dest),
    out,
  ];
  assert.ok(await nixSucceeds(copyInto("fresh-ok", nixPublicKey)));
  assert.not.ok(await nixSucceeds(copyInto("fresh-bad", generateKeyPair("nix-key-1").publicKey)));
  const verify = (trusted: string) => [
    "store",
    "verify",
    "--store",
    `file://${cache}`,
    "--sigs-needed",
    "1",
    "--option",
    "trusted-public-keys",
    trusted,
    "--recursive",
    out,
  ];
  assert.ok(await nixSucceeds(verify(nixPublicKey)));
  assert.not.ok(await nixSucceeds(verify(generateKeyPair("nix-key-1").publicKey)));
});

test("a key pair from generateKeyPair works in Nix both ways", async () => {
  const { secretKey, publicKey } = generateKeyPair("flox-test-1");
  assert.is(publicKeyOf(secretKey), publicKey);
  const skFile = join(nix.scratch("our-keys"), "sk");
  await mkdir(nix.scratch("our-keys"), { recursive: true });
  await writeFile(skFile, secretKey);
  // Nix signs with our secret key ...
  const cache = nix.scratch("signed-by-our-key");
  await nix.run("nix", ["copy", "--to", `file://${cache}?compression=none&secret-key=${skFile}`, out]);
  for (const text of (await narInfoTexts(cache)).values()) {
    assert.ok(verifyNarInfo(parseNarInfo(text), [publicKey]));
  }
  // ... and trusts our public key for what we signed.
  const ours = nix.scratch("we-signed-our-key");
  await nix.run("nix", ["copy", "--to", `file://${ours}?compression=none`, out]);
  await signCacheWith(ours, secretKey);
  assert.ok(
    await nixSucceeds([
      "copy",
      "--option",
      "require-sigs",
      "true",
      "--option",
      "trusted-public-keys",
      publicKey,
      "--from",
      `file://${ours}`,
      "--to",
      nix.scratch("fresh-our-key"),
      out,
    ]),
  );
});

test("fingerprint: Nix's format, references sorted whatever the input order, hash in nix32", async () => {
  const info = parseNarInfo(
    (await narInfoTexts(unsignedCache)).get(`${parseStorePath(out).hash}.narinfo`) as string,
  );
  const refs = info.references.map((r) => `/nix/store/${r}`);
  assert.is(refs.length, 2);
  const expected = `1;${out};${info.narHash};${info.narSize};${[...refs].sort().join(",")}`;
  assert.is(fingerprint(out, info.narHash, info.narSize, refs), expected);
  assert.is(fingerprint(out, info.narHash, info.narSize, [...refs].reverse()), expected);
  const sri = formatNixHash(parseNixHash(info.narHash).digest, "sri");
  assert.is(fingerprint(out, sri, info.narSize, refs), expected);
  assert.is(fingerprint(out, info.narHash, info.narSize, []), `1;${out};${info.narHash};${info.narSize};`);
  assert.throws(
    () => fingerprint(out, info.narHash, 0, refs),
    (e: unknown) => e instanceof FingerprintError,
  );
  assert.throws(
    () => fingerprint(out, "sha1:0000", 1, refs),
    (e: unknown) => e instanceof FingerprintError,
  );
});

test("malformed keys are refused with KeyFormatError; malformed signatures just do not verify", () => {
  const { secretKey, publicKey } = generateKeyPair("k");
  const other = generateKeyPair("k");
  const isKeyError = (e: unknown) => e instanceof KeyFormatError;
  const seed = Buffer.from(secretKey.slice(2), "base64").subarray(0, 32);
  for (const bad of [
    "nocolon",
    ":AAAA",
    "name:",
    `k:${seed.toString("base64")}`, // 32 bytes: a seed alone
    `k:${Buffer.concat([seed, Buffer.from(other.publicKey.slice(2), "base64")]).toString("base64")}`, // foreign public half
    `k:${secretKey.slice(2, -4)}`, // truncated base64
    `k:${secretKey.slice(2).replace(/[+/]/g, "_")}!`,
  ]) {
    assert.throws(() => parseSecretKey(bad), isKeyError, bad);
  }
  for (const bad of ["nocolon", "k:", `k:${secretKey.slice(2)}`, "k:AAAA"]) {
    assert.throws(() => parsePublicKey(bad), isKeyError, bad);
  }
  assert.throws(() => generateKeyPair("a:b"), isKeyError);
  const fp = "1;/nix/store/mr5g7hhm0mr7prl6hmcgg2yimx1hayzn-x;sha256:0;1;";
  const sig = signFingerprint(secretKey, fp);
  assert.ok(verifySignature([publicKey], fp, sig));
  assert.not.ok(verifySignature([publicKey], `${fp}x`, sig));
  for (const bad of ["k", "k:", "k:AAAA", `other:${sig.slice(2)}`, `${sig}AAAA`]) {
    assert.not.ok(verifySignature([publicKey], fp, bad), bad);
  }
});

test.run();
