import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chunked, narArchive, narDir, narFile, narLink, narStrings, u64 } from "../testing/nar-bytes.js";
import { NAR_LIMITS, type NarEvent, NarFormatError, readNar, validateNar } from "./nar-reader.js";

const work = mkdtempSync(join(tmpdir(), "flox-nar-reader-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

const MAGIC = narStrings("nix-archive-1").length;

async function events(source: Buffer | Readable): Promise<NarEvent[]> {
  const out: NarEvent[] = [];
  for await (const ev of readNar(source)) out.push(ev);
  return out;
}

async function rejects(bytes: Buffer, message: RegExp, offset?: number): Promise<NarFormatError> {
  // Every malformed case must fail the same way however the bytes are chunked.
  let first: NarFormatError | undefined;
  for (const source of [bytes, chunked(bytes, 1), chunked(bytes, 7)]) {
    try {
      await validateNar(source);
      assert.unreachable(`accepted a NAR that should fail with ${message}`);
    } catch (e) {
      if (!(e instanceof NarFormatError)) throw e;
      assert.match(e.message, message);
      if (offset !== undefined) assert.is(e.offset, offset, e.message);
      if (first) assert.is(e.message, first.message);
      first = e;
    }
  }
  return first as NarFormatError;
}

// A real tree, dumped by real Nix.
const tree = join(work, "tree");
mkdirSync(join(tree, "sub/deeper"), { recursive: true });
mkdirSync(join(tree, "emptydir"));
writeFileSync(join(tree, "hello"), "hello\n");
writeFileSync(join(tree, "run"), "#!/bin/sh\n", { mode: 0o755 });
writeFileSync(join(tree, "empty"), "");
writeFileSync(join(tree, "sub/deeper/eight888"), "12345678");
writeFileSync(join(tree, "\u{1F600}"), "grin");
writeFileSync(join(tree, "\uFFFD"), "fffd");
symlinkSync("/etc/passwd", join(tree, "abs"));
symlinkSync("../hello", join(tree, "sub/rel"));
const big = Buffer.alloc(1024 * 1024 + 5, 0x5a);
writeFileSync(join(tree, "big"), big);
const treeNar = execFileSync("nix-store", ["--dump", tree], { maxBuffer: 1 << 30 });
const treeHash = execFileSync("nix-hash", ["--type", "sha256", tree], { encoding: "utf8" }).trim();

test("the hand-rolled builder writes what nix-store --dump writes", () => {
  const d = join(work, "small");
  mkdirSync(d);
  writeFileSync(join(d, "a"), "hello");
  writeFileSync(join(d, "x"), "#!", { mode: 0o755 });
  symlinkSync("a", join(d, "l"));
  const ours = narArchive(narDir(["a", narFile("hello")], ["l", narLink("a")], ["x", narFile("#!", true)]));
  assert.ok(ours.equals(execFileSync("nix-store", ["--dump", d])));
});

test("a real NAR validates, with nix-hash's hash, however it is chunked", async () => {
  const sizes: (number | (() => number))[] = [1 << 20, 65536, 8, 3, () => Math.floor(Math.random() * 5000)];
  for (const size of sizes) {
    const { narHash, narSize } = await validateNar(chunked(treeNar, size));
    assert.is(narHash.toString("hex"), treeHash);
    assert.is(narSize, treeNar.length);
  }
  const whole = await validateNar(treeNar);
  assert.is(whole.narHash.toString("hex"), treeHash);
});

test("1-byte chunks: every event, contents and narOffset come out right", async () => {
  const d = join(work, "tiny");
  mkdirSync(join(d, "sub"), { recursive: true });
  writeFileSync(join(d, "sub/f"), "abcdefghij");
  writeFileSync(join(d, "x"), "#!", { mode: 0o700 });
  symlinkSync("sub/f", join(d, "l"));
  const bytes = execFileSync("nix-store", ["--dump", d]);
  const evs = await events(chunked(bytes, 1));
  const summary = evs.map((e) => {
    const p = "path" in e ? e.path.map((n) => n.toString()).join("/") : "";
    switch (e.type) {
      case "regular":
        return `regular ${p} ${e.size} ${e.executable}`;
      case "contents":
        return `contents ${p} ${e.chunk.toString()}`;
      case "symlink":
        return `symlink ${p} ${e.target.toString()}`;
      case "end":
        return `end ${e.narSize}`;
      default:
        return `${e.type} ${p}`;
    }
  });
  const contents = (s: string) => [...s].map((c) => `contents sub/f ${c}`);
  assert.equal(summary, [
    "directory ",
    "symlink l sub/f",
    "directory sub",
    "regular sub/f 10 false",
    ...contents("abcdefghij"),
    "regular-end sub/f",
    "directory-end sub",
    "regular x 2 true",
    "contents x #",
    "contents x !",
    "regular-end x",
    "directory-end ",
    `end ${bytes.length}`,
  ]);
  for (const e of evs) {
    if (e.type === "regular") {
      const want = readFileSync(join(d, ...e.path.map((n) => n.toString())));
      assert.ok(bytes.subarray(e.narOffset, e.narOffset + e.size).equals(want));
    }
  }
});

test("a big file's contents arrive in pieces and are exactly the file", async () => {
  const parts: Buffer[] = [];
  for await (const e of readNar(chunked(treeNar, 65536))) {
    if (e.type === "contents" && e.path[0]?.toString() === "big") parts.push(e.chunk);
  }
  assert.ok(parts.length > 10);
  assert.ok(Buffer.concat(parts).equals(big));
});

test("wrong magic", async () => {
  await rejects(
    Buffer.concat([narStrings("nix-archive-2"), narFile("")]),
    /at byte 0: not a NAR: bad magic "nix-archive-2"/,
    0,
  );
  await rejects(
    Buffer.concat([narStrings("nix-archive-1x"), narFile("")]),
    /at byte 0: not a NAR: bad magic \(length 14\)/,
  );
  await rejects(Buffer.from("hello world, this is not a NAR at all"), /not a NAR/, 0);
  await rejects(Buffer.alloc(0), /at byte 0: unexpected end of NAR in magic/);
});

test("unknown tokens", async () => {
  await rejects(
    narArchive(narStrings("(", "typo", "regular", "contents", "", ")")),
    /at byte 40: expected "type" after '\('/,
    40,
  );
  await rejects(narArchive(narStrings("(", "type", "fifo", ")")), /at byte 56: unknown node type "fifo"/, 56);
  await rejects(
    narArchive(narStrings("[", "type", "regular")),
    /expected "\(" opening a node, found "\["/,
    MAGIC,
  );
  await rejects(
    narArchive(narStrings("(", "type", "regular", "content", "", ")")),
    /expected "contents", found "content"/,
  );
  await rejects(
    narArchive(narStrings("(", "type", "symlink", "link", "x", ")")),
    /expected "target" in a symlink/,
  );
  await rejects(
    narArchive(narStrings("(", "type", "directory", "entries", ")")),
    /expected "entry" or "\)" in a directory/,
  );
  await rejects(
    narArchive(Buffer.concat([narStrings("(", "type", "directory", "entry", "(", "nom", "a")])),
    /expected "name" in a directory entry/,
  );
  await rejects(
    narArchive(
      Buffer.concat([narStrings("(", "type", "directory", "entry", "(", "name", "a", "nod"), narFile("")]),
    ),
    /expected "node" after an entry name/,
  );
  // Nix writes `executable ""` before `contents` and nowhere else: anything else is not canonical.
  await rejects(
    narArchive(narStrings("(", "type", "regular", "contents", "", "executable", "", ")")),
    /expected "\)" closing a regular file/,
  );
  await rejects(
    narArchive(narStrings("(", "type", "regular", "executable", "yes", "contents", "", ")")),
    /executable marker has a non-empty value/,
  );
  await rejects(
    narArchive(narStrings("(", "type", "regular", "executable", "", "executable", "", "contents", "", ")")),
    /expected "contents"/,
  );
  await rejects(
    narArchive(narStrings("(", "type", "regular", "type", "regular", "contents", "", ")")),
    /expected "contents"/,
  );
});

test("non-zero padding", async () => {
  const ok = narArchive(narDir(["abc", narFile("hello")]));
  await validateNar(ok);
  for (const [needle, what] of [
    ["abc", /non-zero padding after entry name/],
    ["hello", /non-zero padding after file contents/],
    ["nix-archive-1", /non-zero padding after magic/],
    ["directory", /non-zero padding after token "directory"/],
  ] as const) {
    const bad = Buffer.from(ok);
    const at = bad.indexOf(needle) + needle.length;
    bad[at + 1] = 1;
    await rejects(bad, what, at);
  }
});

test("truncation at every byte", async () => {
  const whole = narArchive(
    narDir(["a", narFile("hello", true)], ["l", narLink("a")], ["s", narDir(["e", narFile("")])]),
  );
  await validateNar(whole);
  for (let n = 0; n < whole.length; n++) {
    try {
      await validateNar(whole.subarray(0, n));
      assert.unreachable(`a NAR cut to ${n} bytes was accepted`);
    } catch (e) {
      assert.instance(e, NarFormatError);
      assert.match((e as Error).message, /unexpected end of NAR/);
      assert.is((e as NarFormatError).offset, n);
    }
  }
  await rejects(
    narArchive(narStrings("(", "type", "regular", "contents").subarray(0) /* then size, no data */),
    /unexpected end/,
  );
  await rejects(
    Buffer.concat([
      narArchive(narStrings("(", "type", "regular", "contents")),
      u64(100),
      Buffer.from("short"),
    ]),
    /unexpected end of NAR in file contents \(95 bytes missing\)/,
  );
});

test("trailing garbage after the root node", async () => {
  const ok = narArchive(narFile("x"));
  await rejects(Buffer.concat([ok, Buffer.alloc(8)]), /trailing data after the root node/, ok.length);
  await rejects(Buffer.concat([ok, Buffer.from([1])]), /trailing data/, ok.length);
  await rejects(Buffer.concat([ok, ok]), /trailing data/, ok.length);
  // Empty chunks after the end are not data.
  const { narSize } = await validateNar([ok, Buffer.alloc(0), new Uint8Array(0)]);
  assert.is(narSize, ok.length);
});

test("entries unsorted or duplicated, in raw byte order", async () => {
  const first = MAGIC + narStrings("(", "type", "directory").length;
  await rejects(
    narArchive(narDir(["b", narFile("")], ["a", narFile("")])),
    /invalid entry name "a": entries not sorted \(comes after "b"\)/,
  );
  await rejects(
    narArchive(narDir(["a", narFile("")], ["a", narLink("x")])),
    /invalid entry name "a": duplicate entry/,
  );
  // JS sorts U+1F600 before U+FFFD (UTF-16 code units); Nix and we sort by UTF-8 bytes.
  const jsOrder = ["\u{1F600}", "\uFFFD"].sort();
  assert.equal(jsOrder, ["\u{1F600}", "\uFFFD"]);
  await rejects(
    narArchive(narDir(["\u{1F600}", narFile("")], ["\uFFFD", narFile("")])),
    /entries not sorted/,
  );
  await validateNar(narArchive(narDir(["\uFFFD", narFile("")], ["\u{1F600}", narFile("")])));
  await validateNar(narArchive(narDir(["CASE", narFile("")], ["Case", narFile("")], ["case", narFile("")])));
  await rejects(
    narArchive(narDir(["a", narDir(["y", narFile("")], ["x", narFile("")])])),
    /entries not sorted/,
  );
  const e = await rejects(narArchive(narDir(["b", narFile("")], ["a", narFile("")])), /not sorted/);
  assert.ok(e.offset > first);
});

test("invalid names", async () => {
  const at = MAGIC + narStrings("(", "type", "directory", "entry", "(", "name").length;
  await rejects(narArchive(narDir([".", narFile("")])), /at byte \d+: invalid entry name ".": reserved/, at);
  await rejects(narArchive(narDir(["..", narFile("")])), /invalid entry name "..": reserved/, at);
  await rejects(narArchive(narDir(["", narFile("")])), /invalid entry name "": empty/, at);
  await rejects(narArchive(narDir(["a/b", narFile("")])), /invalid entry name "a\/b": contains '\/'/, at);
  await rejects(narArchive(narDir(["../../etc", narFile("")])), /contains '\/'/, at);
  await rejects(narArchive(narDir(["/etc", narFile("")])), /contains '\/'/, at);
  await rejects(narArchive(narDir(["a\0b", narFile("")])), /contains NUL/, at);
  await validateNar(narArchive(narDir(["x".repeat(NAR_LIMITS.name), narFile("")])));
  await rejects(
    narArchive(narDir(["x".repeat(NAR_LIMITS.name + 1), narFile("")])),
    /length of entry name is 256, more than the maximum 255/,
    at,
  );
});

test("absurd lengths", async () => {
  const head = narStrings("nix-archive-1", "(");
  await rejects(
    Buffer.concat([head, u64(2n ** 40n), Buffer.from("type")]),
    /at byte 40: expected a token after '\(', found a string of 1099511627776 bytes/,
    40,
  );
  await rejects(Buffer.concat([u64(2n ** 63n)]), /bad magic \(length 9223372036854775808\)/, 0);
  await rejects(
    Buffer.concat([narArchive(narStrings("(", "type", "regular", "contents")), u64(2n ** 63n)]),
    /file size is 9223372036854775808, more than the maximum 9007199254740991/,
  );
  await validateNar(narArchive(narLink("t".repeat(NAR_LIMITS.target))));
  await rejects(
    narArchive(narLink("t".repeat(NAR_LIMITS.target + 1))),
    /length of symlink target is 4096, more than the maximum 4095/,
  );
  await rejects(narArchive(narLink("")), /empty symlink target/);
  await rejects(narArchive(narLink("a\0b")), /symlink target contains NUL/);
});

test("nesting deeper than the limit", async () => {
  let node = narFile("bottom");
  for (let i = 0; i < NAR_LIMITS.depth; i++) node = narDir(["d", node]);
  await validateNar(narArchive(node)); // the file sits exactly at the limit
  await rejects(narArchive(narDir(["d", node])), /nodes nested deeper than 512/);
  let shallow = narFile("x");
  for (let i = 0; i < 4; i++) shallow = narDir(["d", shallow]);
  try {
    await validateNar(narArchive(shallow), { maxDepth: 3 });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, NarFormatError);
    assert.match((e as Error).message, /deeper than 3/);
  }
});

test("stopping early closes the source; a failing source's error passes through", async () => {
  const src = chunked(treeNar, 4096);
  for await (const ev of readNar(src)) if (ev.type === "regular") break;
  assert.ok(src.destroyed);
  async function* failing() {
    yield treeNar.subarray(0, 100);
    throw new Error("connection reset");
  }
  try {
    await validateNar(failing());
    assert.unreachable();
  } catch (e) {
    assert.not.instance(e, NarFormatError);
    assert.is((e as Error).message, "connection reset");
  }
});

test.run();
