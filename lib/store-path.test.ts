import { createHash } from "node:crypto";
import { chmod, mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createNixTestStore, NixCommandError, type NixTestStore, nixString } from "../testing/nix-store.js";
import { parseNixHash } from "./hash.js";
import {
  BadStorePathError,
  compressHash,
  isStorePath,
  isValidStorePathName,
  makeFixedOutputPath,
  makeSourcePath,
  makeStorePath,
  makeTextPath,
  parseStorePath,
  parseStorePathBasename,
} from "./store-path.js";

let nix: NixTestStore;
let tree: string;
test.before(async () => {
  nix = await createNixTestStore();
  tree = join(nix.dir, "inputs", "tree");
  await mkdir(join(tree, "sub"), { recursive: true });
  await writeFile(join(tree, "sub", "data"), "some data\n");
  await writeFile(join(tree, "run"), "#!/bin/sh\necho hi\n");
  await chmod(join(tree, "run"), 0o755);
  await symlink("sub/data", join(tree, "link"));
});
test.after(async () => {
  await nix.cleanup();
});

/** The NAR hash of a file or tree as Nix computes it (no store involved). */
async function narHash(path: string, algo = "sha256"): Promise<Buffer> {
  return Buffer.from(await nix.run("nix-hash", ["--type", algo, path]), "hex");
}

async function inputFile(name: string, contents: string): Promise<string> {
  const path = join(nix.dir, "inputs", name);
  await writeFile(path, contents);
  return path;
}

// Names with every punctuation character a store path name may hold.
const FILE_NAMES = ["f.txt", "a+b=c?d", "x_y-1.0", ".hidden", "UPPER.lower-9"];

test("makeSourcePath gives the path `nix-store --add` gives a file", async () => {
  for (const name of FILE_NAMES) {
    const file = await inputFile(name, `contents of ${name}\n`);
    const added = await nix.run("nix-store", ["--add", file]);
    assert.is(makeSourcePath(await narHash(file), name), added, name);
  }
});

test("makeSourcePath gives the path `nix-store --add` gives a tree (and --add-fixed --recursive sha256 agrees)", async () => {
  const added = await nix.run("nix-store", ["--add", tree]);
  const fixed = await nix.run("nix-store", ["--add-fixed", "--recursive", "sha256", tree]);
  const expected = makeSourcePath(await narHash(tree), "tree");
  assert.is(expected, added);
  assert.is(expected, fixed);
  assert.is(makeFixedOutputPath({ method: "recursive", hash: await narHash(tree), name: "tree" }), expected);
});

test("makeFixedOutputPath flat matches `nix-store --add-fixed` for sha256 and sha1", async () => {
  const contents = "flat file for add-fixed\n";
  const file = await inputFile("flat-in.txt", contents);
  for (const algo of ["sha256", "sha1"] as const) {
    const added = await nix.run("nix-store", ["--add-fixed", algo, file]);
    const hash = createHash(algo).update(contents).digest();
    assert.is(makeFixedOutputPath({ method: "flat", algo, hash, name: "flat-in.txt" }), added, algo);
  }
});

test("makeFixedOutputPath recursive non-sha256 matches `nix-store --add-fixed --recursive sha512`", async () => {
  const added = await nix.run("nix-store", ["--add-fixed", "--recursive", "sha512", tree]);
  const hash = await narHash(tree, "sha512");
  assert.is(makeFixedOutputPath({ method: "recursive", algo: "sha512", hash, name: "tree" }), added);
});

test("the store directory is part of the hash (store=/custom/store)", async () => {
  const file = await inputFile("elsewhere.txt", "in another store dir\n");
  const store = `local?root=${nix.scratch("custom-root")}&store=/custom/store`;
  const added = await nix.run("nix-store", ["--store", store, "--add", file]);
  assert.ok(added.startsWith("/custom/store/"));
  assert.is(makeSourcePath(await narHash(file), "elsewhere.txt", [], "/custom/store"), added);
  assert.is.not(makeSourcePath(await narHash(file), "elsewhere.txt"), added);
});

test("makeTextPath matches builtins.toFile, with and without references", async () => {
  const busybox = `builtins.path { path = /. + ${nixString(nix.busyboxDir)}; name = "busybox"; }`;
  const busyboxPath = JSON.parse(await nix.run("nix-instantiate", ["--eval", "-E", `"\${${busybox}}"`]));
  const plain = JSON.parse(
    await nix.run("nix-instantiate", ["--eval", "-E", `builtins.toFile "plain" "hello\\n"`]),
  );
  assert.is(makeTextPath("plain", "hello\n"), plain);
  const withRef = JSON.parse(
    await nix.run("nix-instantiate", ["--eval", "-E", `builtins.toFile "ref" "uses \${${busybox}}"`]),
  );
  assert.is(makeTextPath("ref", `uses ${busyboxPath}`, [busyboxPath]), withRef);
});

test("makeFixedOutputPath with references and a self-reference matches a content-addressed build", async () => {
  const out = await nix.buildOne(
    `derivation {
      name = "ca-out"; inherit system; builder = "\${busybox}/bin/sh";
      args = [ "-c" "echo \${busybox} $out > $out" ];
      __contentAddressed = true; outputHashMode = "recursive"; outputHashAlgo = "sha256";
    }`,
    ["--option", "extra-experimental-features", "ca-derivations"],
  );
  const [info] = JSON.parse(await nix.run("nix", ["path-info", "--json", out])) as {
    path: string;
    ca: string;
    references: string[];
  }[];
  assert.ok(info);
  const caHash = parseNixHash(info.ca.replace(/^fixed:r:/, "")).digest;
  const others = info.references.filter((r) => r !== out);
  assert.is(others.length, 1, "refers to busybox");
  assert.is(
    makeFixedOutputPath({
      method: "recursive",
      hash: caHash,
      name: "ca-out",
      references: others,
      selfReference: true,
    }),
    out,
  );
  // Reference order must not matter: Nix keeps them in a sorted set.
  assert.is(
    makeFixedOutputPath({
      method: "recursive",
      hash: caHash,
      name: "ca-out",
      references: [...others].reverse(),
      selfReference: true,
    }),
    out,
  );
});

test("isValidStorePathName agrees with Nix on which names it accepts", async () => {
  const names = [
    "hello",
    "a+b=c?d",
    "-leading-dash",
    ".hidden",
    ".",
    "..",
    "x".repeat(211),
    "x".repeat(212),
    "",
    "a b",
    "a:b",
    "a@b",
    "a~b",
    "caf\u00e9",
    "a,b",
  ];
  for (const name of names) {
    let nixAccepts = true;
    try {
      await nix.run("nix-instantiate", ["--eval", "-E", `builtins.toFile ${nixString(name)} "x"`]);
    } catch (e) {
      if (!(e instanceof NixCommandError)) throw e;
      nixAccepts = false;
    }
    assert.is(isValidStorePathName(name), nixAccepts, JSON.stringify(name));
  }
});

test("parseStorePath splits a real path", () => {
  const p = parseStorePath("/nix/store/mr5g7hhm0mr7prl6hmcgg2yimx1hayzn-t+x=y?z");
  assert.equal(p, {
    storeDir: "/nix/store",
    hash: "mr5g7hhm0mr7prl6hmcgg2yimx1hayzn",
    name: "t+x=y?z",
    basename: "mr5g7hhm0mr7prl6hmcgg2yimx1hayzn-t+x=y?z",
  });
  assert.is(parseStorePath("/custom/store/mr5g7hhm0mr7prl6hmcgg2yimx1hayzn-x").storeDir, "/custom/store");
  assert.is(parseStorePathBasename("mr5g7hhm0mr7prl6hmcgg2yimx1hayzn-x").name, "x");
});

test("parseStorePath rejects malformed paths with BadStorePathError", () => {
  const h = "mr5g7hhm0mr7prl6hmcgg2yimx1hayzn";
  const bad = [
    `/nix/store/${h}`, // no name
    `/nix/store/${h}-`, // empty name
    `/nix/store/${h}_x`, // no dash
    `/nix/store/${h.slice(1)}-x`, // 31-char hash
    `/nix/store/e${h.slice(1)}-x`, // 'e' is not nix32
    `/nix/store/${h.toUpperCase()}-x`,
    `/nix/store/${h}-a b`,
    `/nix/store/${h}-${"x".repeat(212)}`,
    `nix/store/${h}-x`, // relative
    `${h}-x`,
    `/nix/store/${h}-x/bin/sh`, // inside a store path, not one
    `/nix/store//${h}-x`,
  ];
  for (const p of bad) {
    assert.throws(
      () => parseStorePath(p, "/nix/store"),
      (e: unknown) => e instanceof BadStorePathError,
      p,
    );
    assert.not.ok(isStorePath(p, "/nix/store"), p);
  }
  assert.throws(
    () => parseStorePath(`/other/store/${h}-x`, "/nix/store"),
    (e: unknown) => e instanceof BadStorePathError,
  );
  assert.throws(
    () => makeStorePath("source", "00", "a b"),
    (e: unknown) => e instanceof BadStorePathError,
  );
  assert.throws(
    () =>
      makeFixedOutputPath({
        method: "flat",
        hash: Buffer.alloc(32),
        name: "x",
        references: [`/nix/store/${h}-x`],
      }),
    (e: unknown) => e instanceof BadStorePathError,
  );
});

test("compressHash folds by XOR, byte i onto i mod size", () => {
  const digest = Buffer.from([1, 2, 3, 4, 5, 6, 7]);
  assert.equal(compressHash(digest, 3), Buffer.from([1 ^ 4 ^ 7, 2 ^ 5, 3 ^ 6]));
  assert.equal(
    compressHash(Buffer.alloc(32, 0xff), 20),
    Buffer.concat([Buffer.alloc(12, 0), Buffer.alloc(8, 0xff)]),
  );
});

test.run();
