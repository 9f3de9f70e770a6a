import { createHash } from "node:crypto";
import { cp, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createNixTestStore, NixCommandError, type NixTestStore } from "../testing/nix-store.js";
import { formatNixHash, parseNixHash } from "./hash.js";
import {
  DEFAULT_NARINFO_COMPRESSION,
  type NarInfo,
  NarInfoParseError,
  parseNarInfo,
  serializeNarInfo,
} from "./narinfo.js";
import { parseStorePath } from "./store-path.js";

interface PathInfo {
  path: string;
  narHash: string;
  narSize: number;
  references: string[];
  deriver?: string;
  ca?: string;
}

let nix: NixTestStore;
let out: string;
let dep: string;
/** `nix copy --to file://…?compression=none` of out's closure, unsigned. */
let plainCache: string;
let pathInfos: PathInfo[];

test.before(async () => {
  nix = await createNixTestStore();
  dep = await nix.buildOne(`run "dep" "echo dep > $out"`);
  // A name with + = ? and two references, so sorting and escaping both show.
  out = await nix.buildOne(`run "t+x=y?z" "echo \${run "dep" "echo dep > $out"} \${busybox} > $out"`);
  plainCache = nix.scratch("plain-cache");
  await nix.run("nix", ["copy", "--to", `file://${plainCache}?compression=none`, out]);
  pathInfos = JSON.parse(await nix.run("nix", ["path-info", "--json", "--recursive", out]));
});
test.after(async () => {
  await nix.cleanup();
});

function narInfoFile(cache: string, storePath: string): string {
  return join(cache, `${parseStorePath(storePath).hash}.narinfo`);
}

const basename = (p: string) => parseStorePath(p).basename;

test("every narinfo `nix copy` writes parses to what `nix path-info` says about the path", async () => {
  assert.is(pathInfos.length, 3);
  for (const pi of pathInfos) {
    const info = parseNarInfo(await readFile(narInfoFile(plainCache, pi.path), "utf8"));
    assert.is(info.storePath, pi.path);
    assert.is(info.compression, "none");
    assert.is(info.narHash, formatNixHash(parseNixHash(pi.narHash).digest, "nix32"));
    assert.is(info.narSize, pi.narSize);
    assert.equal(info.references, pi.references.map(basename).sort());
    assert.is(info.deriver, pi.deriver === undefined ? undefined : basename(pi.deriver));
    assert.is(info.ca, pi.ca);
    assert.equal(info.sigs, []);
    // The NAR file itself: size and hash as announced.
    const nar = await readFile(join(plainCache, info.url));
    assert.is(info.fileSize, nar.length);
    assert.is(info.fileHash, formatNixHash(createHash("sha256").update(nar).digest(), "nix32"));
  }
  const outInfo = parseNarInfo(await readFile(narInfoFile(plainCache, out), "utf8"));
  assert.is(outInfo.references.length, 2);
  assert.ok(outInfo.references.includes(basename(dep)));
});

test("serializeNarInfo reproduces Nix's narinfo byte for byte (none, xz, signed, CA, no references)", async () => {
  const keyDir = nix.scratch("keys");
  await mkdir(keyDir, { recursive: true });
  await nix.run("nix-store", ["--generate-binary-cache-key", "k1", join(keyDir, "sk"), join(keyDir, "pk")]);
  const signedXz = nix.scratch("signed-xz-cache");
  await nix.run("nix", [
    "copy",
    "--to",
    `file://${signedXz}?compression=xz&secret-key=${join(keyDir, "sk")}`,
    out,
  ]);
  let signedSeen = 0;
  for (const cache of [plainCache, signedXz]) {
    const files = (await readdir(cache)).filter((f) => f.endsWith(".narinfo"));
    assert.is(files.length, 3);
    for (const f of files) {
      const text = await readFile(join(cache, f), "utf8");
      const info = parseNarInfo(text);
      assert.is(serializeNarInfo(info), text, `${cache}/${f}`);
      if (info.sigs.length > 0) signedSeen++;
    }
  }
  // Nix signs content-addressed paths too (it only skips checking them).
  assert.is(signedSeen, 3);
});

test("a missing Compression means bzip2, as Nix reads it", async () => {
  const text = await readFile(narInfoFile(plainCache, dep), "utf8");
  const stripped = text.replace(/^Compression: .*\n/m, "");
  assert.is(parseNarInfo(stripped).compression, DEFAULT_NARINFO_COMPRESSION);
  assert.is(DEFAULT_NARINFO_COMPRESSION, "bzip2");
  assert.match(serializeNarInfo(parseNarInfo(stripped)), /\nCompression: bzip2\n/);

  // Real Nix: a bzip2 NAR without the line downloads fine; a raw one does not.
  const bz = nix.scratch("bz-cache");
  await nix.run("nix", ["copy", "--to", `file://${bz}?compression=bzip2`, dep]);
  const bzFile = narInfoFile(bz, dep);
  await writeFile(bzFile, (await readFile(bzFile, "utf8")).replace(/^Compression: .*\n/m, ""));
  await nix.run("nix", [
    "copy",
    "--no-check-sigs",
    "--from",
    `file://${bz}`,
    "--to",
    nix.scratch("into-1"),
    dep,
  ]);

  const raw = nix.scratch("raw-cache");
  await cp(plainCache, raw, { recursive: true });
  await writeFile(narInfoFile(raw, dep), stripped);
  try {
    await nix.run("nix", [
      "copy",
      "--no-check-sigs",
      "--from",
      `file://${raw}`,
      "--to",
      nix.scratch("into-2"),
      dep,
    ]);
    assert.unreachable("Nix read a raw NAR without a Compression line");
  } catch (e) {
    assert.instance(e, NixCommandError);
  }
});

test("hashes in other encodings are accepted and normalised to sha256:<nix32>", async () => {
  const text = await readFile(narInfoFile(plainCache, dep), "utf8");
  const info = parseNarInfo(text);
  const digest = parseNixHash(info.narHash).digest;
  const sri = text.replace(/^NarHash: .*$/m, `NarHash: ${formatNixHash(digest, "sri")}`);
  const hex = text.replace(/^NarHash: .*$/m, `NarHash: ${formatNixHash(digest, "hex")}`);
  assert.is(parseNarInfo(sri).narHash, info.narHash);
  assert.is(parseNarInfo(hex).narHash, info.narHash);
  assert.is(serializeNarInfo(parseNarInfo(hex)), text);
});

interface BadCase {
  why: string;
  edit: (text: string) => string;
  line?: number;
  field?: string;
  /** False where we are deliberately stricter than Nix 2.8, which reads the text anyway. */
  nixRejects: boolean;
}

const replaceLine = (key: string, value: string | null) => (text: string) =>
  text.replace(new RegExp(`^${key}: .*\\n`, "m"), value === null ? "" : `${key}: ${value}\n`);

// Line numbers refer to out's narinfo: StorePath, URL, Compression, FileHash, FileSize, NarHash, NarSize, References, Deriver.
const BAD: BadCase[] = [
  { why: "no StorePath", edit: replaceLine("StorePath", null), field: "StorePath", nixRejects: true },
  { why: "no URL", edit: replaceLine("URL", null), field: "URL", nixRejects: true },
  { why: "no NarHash", edit: replaceLine("NarHash", null), field: "NarHash", nixRejects: true },
  { why: "no NarSize", edit: replaceLine("NarSize", null), field: "NarSize", nixRejects: true },
  { why: "NarSize 0", edit: replaceLine("NarSize", "0"), line: 7, field: "NarSize", nixRejects: true },
  {
    why: "NarSize not a number",
    edit: replaceLine("NarSize", "12x"),
    line: 7,
    field: "NarSize",
    nixRejects: true,
  },
  {
    why: "bad NarHash",
    edit: replaceLine("NarHash", "sha256:xyz"),
    line: 6,
    field: "NarHash",
    nixRejects: true,
  },
  {
    why: "reference without a hash part",
    edit: replaceLine("References", "just-a-name"),
    line: 8,
    field: "References",
    nixRejects: true,
  },
  {
    why: "reference with an illegal character",
    edit: (t) => t.replace(/^(References: \S+)/m, "$1 mr5g7hhm0mr7prl6hmcgg2yimx1hayzn-a,b"),
    line: 8,
    field: "References",
    nixRejects: true,
  },
  {
    why: "bad Deriver",
    edit: replaceLine("Deriver", "nope.drv"),
    line: 9,
    field: "Deriver",
    nixRejects: true,
  },
  {
    why: "StorePath outside the store",
    edit: (t) => t.replace("StorePath: /nix/store/", "StorePath: /elsewhere/"),
    line: 1,
    field: "StorePath",
    nixRejects: true,
  },
  { why: "no final newline", edit: (t) => t.slice(0, -1), line: 9, nixRejects: true },
  { why: "a line without ': '", edit: (t) => `${t}garbage\n`, line: 10, nixRejects: true },
  { why: "NarSize twice", edit: (t) => `${t}NarSize: 5\n`, line: 10, field: "NarSize", nixRejects: false },
  {
    why: "a blank line in the middle",
    edit: (t) => t.replace("\nURL", "\n\nURL"),
    line: 2,
    nixRejects: true,
  },
];

test("malformed narinfos: NarInfoParseError names the line and field, and Nix refuses them too", async () => {
  const good = await readFile(narInfoFile(plainCache, out), "utf8");
  const check = async (name: string, text: string) => {
    // A cache of its own per case: Nix remembers narinfos it has read per cache URL.
    const cache = nix.scratch(`bad-${name}`);
    await mkdir(cache, { recursive: true });
    await cp(join(plainCache, "nix-cache-info"), join(cache, "nix-cache-info"));
    await writeFile(narInfoFile(cache, out), text);
    try {
      await nix.run("nix", ["path-info", "--store", `file://${cache}`, out]);
      return true;
    } catch (e) {
      if (e instanceof NixCommandError) return false;
      throw e;
    }
  };
  assert.ok(await check("control", good), "the unedited narinfo reads fine");
  for (const [i, c] of BAD.entries()) {
    const text = c.edit(good);
    assert.is.not(text, good, c.why);
    assert.throws(
      () => parseNarInfo(text),
      (e: unknown) => e instanceof NarInfoParseError && e.line === c.line && e.field === c.field,
      c.why,
    );
    assert.is(await check(String(i), text), !c.nixRejects, `Nix on: ${c.why}`);
  }
});

test("unknown fields are skipped and 'unknown-deriver' means none, as in Nix", async () => {
  const text = await readFile(narInfoFile(plainCache, out), "utf8");
  const info = parseNarInfo(
    `${text.replace(/^Deriver: .*$/m, "Deriver: unknown-deriver")}X-Flox: whatever\nSystem: x86_64-linux\n`,
  );
  assert.is(info.deriver, undefined);
  assert.is(info.system, "x86_64-linux");
  const back: NarInfo = parseNarInfo(serializeNarInfo(info));
  assert.is(back.system, undefined);
  assert.not.match(serializeNarInfo(info), /Deriver|System|X-Flox/);
});

test.run();
