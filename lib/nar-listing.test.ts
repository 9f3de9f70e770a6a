import { execFileSync } from "node:child_process";
import {
  createReadStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  buildNarListing,
  listingNodeAt,
  type NarListingNode,
  NarListingParseError,
  narListingJson,
  parseNarListing,
} from "./nar-listing.js";
import { NarFormatError } from "./nar-reader.js";
import { narChunks } from "./nar-writer.js";

const work = mkdtempSync(join(tmpdir(), "flox-nar-listing-"));
process.on("exit", () => {
  execFileSync("chmod", ["-R", "u+w", work]);
  rmSync(work, { recursive: true, force: true });
});

// Real Nix, isolated: a chroot store, no substituters, no host config, a private cache dir.
mkdirSync(join(work, "conf"));
mkdirSync(join(work, "home"));
const nixEnv = {
  ...process.env,
  HOME: join(work, "home"),
  XDG_CACHE_HOME: join(work, "home/.cache"),
  NIX_CONF_DIR: join(work, "conf"),
  NIX_CONFIG: "experimental-features = nix-command\nsubstituters =",
};
const store = join(work, "chroot");
const cache = join(work, "cache");

function nix(cmd: string, args: string[]): string {
  const stdio: ["ignore", "pipe", "pipe"] = ["ignore", "pipe", "pipe"];
  return execFileSync(cmd, args, { env: nixEnv, encoding: "utf8", maxBuffer: 1 << 30, stdio }).trim();
}

/** Add `path` to the chroot store and `nix copy` it to a file:// cache with a listing; return what Nix wrote. */
function nixListing(path: string): { ls: string; nar: Buffer; narPath: string; narSize: number } {
  const storePath = nix("nix-store", ["--store", store, "--add", path]);
  nix("nix", [
    "copy",
    "--store",
    store,
    "--to",
    `file://${cache}?compression=none&write-nar-listing=1`,
    storePath,
  ]);
  const hash = basename(storePath).slice(0, 32);
  const narinfo = readFileSync(join(cache, `${hash}.narinfo`), "utf8");
  const url = /^URL: (.*)$/m.exec(narinfo)?.[1] as string;
  const narSize = Number(/^NarSize: (\d+)$/m.exec(narinfo)?.[1]);
  const narPath = join(cache, url);
  return {
    ls: readFileSync(join(cache, `${hash}.ls`), "utf8"),
    nar: readFileSync(narPath),
    narPath,
    narSize,
  };
}

const tree = join(work, "tree");
mkdirSync(tree);
writeFileSync(join(tree, "hello"), "hello\n");
writeFileSync(join(tree, "run"), "#!/bin/sh\n", { mode: 0o755 });
writeFileSync(join(tree, "empty"), "");
mkdirSync(join(tree, "emptydir"));
symlinkSync("/etc/passwd", join(tree, "abs"));
symlinkSync("hello", join(tree, "rel"));
symlinkSync('../no"where\\', join(tree, "dangling"));
// Names that test JSON escaping, byte order vs UTF-16 order, and JS's integer-keys-first objects.
for (const n of [
  "\u{1F600}",
  "\uFFFD",
  "é",
  "Case",
  "case",
  "10",
  "9",
  "__proto__",
  'q"',
  "b\\s",
  "n\nl",
  "t\t",
  "c\x01",
]) {
  writeFileSync(join(tree, n), `file ${n}`);
}
let deep = join(tree, "deep");
for (let i = 0; i < 40; i++) deep = join(deep, `d${i}`);
mkdirSync(deep, { recursive: true });
writeFileSync(join(deep, "leaf"), "bottom");
const big = Buffer.alloc(1024 * 1024 + 11);
for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
writeFileSync(join(tree, "big"), big);

const real = nixListing(tree);

/** Every regular file in a listing, with its path relative to the root. */
function regulars(
  node: NarListingNode,
  path: string[] = [],
): [string[], { size: number; narOffset: number }][] {
  if (node.type === "regular") return [[path, node]];
  if (node.type === "symlink") return [];
  return Object.entries(node.entries).flatMap(([name, child]) => regulars(child, [...path, name]));
}

test("the listing of Nix's own NAR equals the .ls file nix copy wrote, structurally and byte-for-byte", async () => {
  const { listing, narSize, narHash } = await buildNarListing(createReadStream(real.narPath));
  assert.equal(JSON.parse(JSON.stringify(listing)), JSON.parse(real.ls));
  assert.is(narListingJson(listing), real.ls);
  assert.is(narSize, real.narSize);
  assert.is(
    narHash.toString("hex"),
    execFileSync("nix-hash", ["--type", "sha256", tree], { encoding: "utf8" }).trim(),
  );
});

test("the listing of our own NAR of the tree is the same", async () => {
  const { listing } = await buildNarListing(narChunks(tree));
  assert.is(narListingJson(listing), real.ls);
});

test("narOffset..+size in the uncompressed NAR is each file's bytes", async () => {
  const { listing } = await buildNarListing(real.nar);
  const files = regulars(listing.root);
  assert.ok(files.length > 15);
  for (const [path, { size, narOffset }] of files) {
    const want = readFileSync(join(tree, ...path));
    assert.ok(real.nar.subarray(narOffset, narOffset + size).equals(want), path.join("/"));
  }
});

test("__proto__ is an ordinary entry, and integer-like names keep byte order in the JSON", async () => {
  const { listing } = await buildNarListing(real.nar);
  assert.is(listing.root.type, "directory");
  if (listing.root.type !== "directory") return;
  const proto = Object.getOwnPropertyDescriptor(listing.root.entries, "__proto__")?.value as NarListingNode;
  assert.is(proto.type, "regular");
  const json = narListingJson(listing);
  assert.ok(json.indexOf('"10":') < json.indexOf('"9":'));
  assert.ok(json.indexOf('"\uFFFD":') < json.indexOf('"\u{1F600}":'));
});

test("roots that are a file, an executable and a symlink", async () => {
  for (const name of ["hello", "run", "empty", "abs"]) {
    const theirs = nixListing(join(tree, name));
    assert.is(JSON.parse(theirs.ls).root.type, name === "abs" ? "symlink" : "regular");
    const fromNix = await buildNarListing(theirs.nar);
    const fromUs = await buildNarListing(narChunks(join(tree, name)));
    assert.is(narListingJson(fromNix.listing), theirs.ls, name);
    assert.is(narListingJson(fromUs.listing), theirs.ls, name);
    assert.equal(JSON.parse(JSON.stringify(fromUs.listing)), JSON.parse(theirs.ls));
  }
});

test("per-file hashes are what nix-hash --flat gives each file, and parse back from the JSON", async () => {
  const { listing } = await buildNarListing(real.nar, { fileHashes: true });
  const files = regulars(listing.root);
  for (const [path, node] of files.filter(([p]) => ["hello", "big", "empty", "run"].includes(p[0] ?? ""))) {
    const want = execFileSync("nix-hash", ["--type", "sha256", "--flat", "--base32", join(tree, ...path)], {
      encoding: "utf8",
    }).trim();
    assert.is((node as { sha256?: string }).sha256, want, path.join("/"));
  }
  const json = narListingJson(listing);
  // Without the hashes the document is still Nix's own, byte for byte.
  assert.is(json.replace(/,"sha256":"[0-9a-z]{52}"/g, ""), real.ls);
  assert.equal(parseNarListing(json, real.narSize), listing);
  assert.equal(listingNodeAt(listing, "deep/d0/d1")?.type, "directory");
  assert.is(listingNodeAt(listing, "hello/x"), undefined);
  assert.is(listingNodeAt(listing, "nope"), undefined);
});

test("a listing from the network is refused when it could not come from a NAR", () => {
  const doc = (root: unknown) => JSON.stringify({ version: 1, root });
  const file = { type: "regular", size: 3, narOffset: 100 };
  const bad: [string, string][] = [
    ["{", "not JSON"],
    [JSON.stringify({ version: 2, root: file }), "version"],
    [doc({ type: "fifo" }), "type"],
    [doc({ ...file, size: -1 }), "size"],
    [doc({ ...file, size: 1.5 }), "size"],
    [doc({ ...file, narOffset: 999 }), "beyond"],
    [doc({ ...file, sha256: "abc" }), "sha256"],
    [doc({ ...file, executable: "yes" }), "executable"],
    [doc({ type: "symlink", target: "" }), "target"],
    [doc({ type: "symlink", target: "a\0b" }), "target"],
    [doc({ type: "directory", entries: { "a/b": file } }), "file name"],
    [doc({ type: "directory", entries: { "..": file } }), "file name"],
    [doc({ type: "directory", entries: { [`${"n".repeat(256)}`]: file } }), "too long"],
    [doc({ type: "directory", entries: [] }), "entries"],
  ];
  for (const [text, why] of bad) {
    try {
      parseNarListing(text, 200);
      assert.unreachable(text);
    } catch (e) {
      assert.instance(e, NarListingParseError, text);
      assert.match((e as Error).message, why, text);
    }
  }
  let deepDoc: unknown = file;
  for (let i = 0; i < 600; i++) deepDoc = { type: "directory", entries: { d: deepDoc } };
  assert.throws(() => parseNarListing(doc(deepDoc), 200), /too deep/);
});

test("a malformed NAR gives no listing", async () => {
  try {
    await buildNarListing(real.nar.subarray(0, real.nar.length - 8));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, NarFormatError);
  }
});

test.run();
