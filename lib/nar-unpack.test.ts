import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  chunked,
  narArchive,
  narDir,
  narFile,
  narLink,
  narStrings,
  nixDump,
  u64,
} from "../testing/nar-bytes.js";
import { NarFormatError, type NarSource } from "./nar-reader.js";
import { NarMismatchError, removeReadOnlyTree, type UnpackOptions, unpackNar } from "./nar-unpack.js";
import { narChunks } from "./nar-writer.js";

const work = mkdtempSync(join(tmpdir(), "flox-nar-unpack-"));
process.on("exit", () => {
  execFileSync("chmod", ["-R", "u+w", work]);
  rmSync(work, { recursive: true, force: true });
});

function makeTree(root: string): void {
  mkdirSync(root);
  writeFileSync(join(root, "hello"), "hello\n");
  writeFileSync(join(root, "run"), "#!/bin/sh\n", { mode: 0o755 });
  writeFileSync(join(root, "owner-exec-only"), "x", { mode: 0o100 });
  writeFileSync(join(root, "group-exec-only"), "x", { mode: 0o654 });
  writeFileSync(join(root, "empty"), "");
  mkdirSync(join(root, "emptydir"));
  symlinkSync("/etc/passwd", join(root, "abs"));
  symlinkSync("hello", join(root, "rel"));
  symlinkSync("../nowhere", join(root, "dangling"));
  for (const n of ["\u{1F600}", "\uFFFD", "é", "Case", "case", "CASE", "__proto__", "new\nline"]) {
    writeFileSync(join(root, n), n);
  }
  writeFileSync(Buffer.from(`${root}/not-utf8-\xff`, "latin1"), "raw bytes");
  let deep = join(root, "deep");
  for (let i = 0; i < 40; i++) deep = join(deep, `d${i}`);
  mkdirSync(deep, { recursive: true });
  symlinkSync("../../../../hello", join(deep, "up"));
  const big = Buffer.alloc(1024 * 1024 + 3);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  writeFileSync(join(root, "big"), big);
}

const tree = join(work, "tree");
makeTree(tree);
const treeNar = nixDump(tree);
const treeHash = execFileSync("nix-hash", ["--type", "sha256", tree], { encoding: "utf8" }).trim();

/** path → mode (permission bits, or "link") of every node under root. */
function modes(root: string): Map<string, string> {
  const out = new Map<string, string>();
  // Raw-byte paths: one name in the tree is not UTF-8.
  const walk = (rel: Buffer) => {
    const abs = rel.equals(Buffer.from("."))
      ? Buffer.from(root)
      : Buffer.concat([Buffer.from(`${root}/`), rel]);
    const st = lstatSync(abs);
    out.set(rel.toString("latin1"), st.isSymbolicLink() ? "link" : (st.mode & 0o7777).toString(8));
    if (!st.isDirectory()) return;
    for (const n of readdirSync(abs, { encoding: "buffer" })) walk(Buffer.concat([rel, Buffer.from("/"), n]));
  };
  walk(Buffer.from("."));
  return out;
}

let seq = 0;
const fresh = () => join(work, `out-${seq++}`);

test("round trip: our NAR of a tree, unpacked, dumps to nix-store --dump of the tree", async () => {
  const target = fresh();
  const digest = await unpackNar(narChunks(tree), target);
  assert.is(digest.narHash.toString("hex"), treeHash);
  assert.is(digest.narSize, treeNar.length);
  assert.ok(nixDump(target).equals(treeNar));
  assert.is(readlinkSync(join(target, "abs")), "/etc/passwd");
  assert.is(readlinkSync(join(target, "dangling")), "../nowhere");
});

test("1-byte chunks unpack to the same tree", async () => {
  const small = join(work, "small");
  mkdirSync(join(small, "sub"), { recursive: true });
  writeFileSync(join(small, "sub/f"), "contents that straddle chunks");
  writeFileSync(join(small, "x"), "#!", { mode: 0o755 });
  symlinkSync("sub/f", join(small, "l"));
  const bytes = nixDump(small);
  const target = fresh();
  await unpackNar(chunked(bytes, 1), target);
  assert.ok(nixDump(target).equals(bytes));
});

test("a source that refills one buffer for every chunk (the agent's pool), with sync writes: the same tree", async () => {
  // Odd sizes put names, targets and tokens across chunk edges; every byte of the buffer is overwritten with
  // 0xee before the next chunk, so a view on an earlier chunk kept anywhere would corrupt the tree.
  for (const size of [7, 4096, 65_536 + 5]) {
    async function* reusing(): AsyncGenerator<Buffer> {
      const buf = Buffer.alloc(size);
      for (let off = 0; off < treeNar.length; off += size) {
        const n = treeNar.copy(buf, 0, off, off + size);
        yield buf.subarray(0, n);
        buf.fill(0xee);
      }
    }
    const target = fresh();
    const digest = await unpackNar(reusing(), target, { writes: "sync" });
    assert.is(digest.narHash.toString("hex"), treeHash, `chunks of ${size}`);
    assert.ok(nixDump(target).equals(treeNar), `chunks of ${size}`);
  }
});

test("default modes are a registered store path's: 0444/0555 files, 0555 dirs", async () => {
  const target = fresh();
  await unpackNar(treeNar, target);
  const m = modes(target);
  assert.is(m.get("."), "555");
  assert.is(m.get("./emptydir"), "555");
  assert.is(m.get("./hello"), "444");
  assert.is(m.get("./run"), "555");
  assert.is(m.get("./owner-exec-only"), "555");
  assert.is(m.get("./group-exec-only"), "444");
  assert.is(m.get("./abs"), "link");
  for (const [path, mode] of m) assert.ok(["444", "555", "link"].includes(mode), `${path}: ${mode}`);
});

test("readOnly: false gives exactly the modes nix-store --restore gives under umask 022", async () => {
  const ours = fresh();
  await unpackNar(treeNar, ours, { readOnly: false });
  const theirs = fresh();
  // Nix's restored modes follow the umask; pin it (in the child only) so the comparison means something.
  execFileSync("sh", ["-c", 'umask 022 && exec nix-store --restore "$0"', theirs], { input: treeNar });
  assert.equal(modes(ours), modes(theirs));
  assert.ok(nixDump(theirs).equals(nixDump(ours)));
});

test("a root that is a file, an executable or a symlink", async () => {
  for (const [name, mode] of [
    ["hello", "444"],
    ["run", "555"],
    ["empty", "444"],
    ["abs", "link"],
    ["dangling", "link"],
  ]) {
    const src = join(tree, name as string);
    const target = fresh();
    await unpackNar(narChunks(src), target);
    assert.ok(nixDump(target).equals(nixDump(src)), name);
    assert.is(modes(target).get("."), mode, name);
  }
});

test("an existing target is refused and left alone; a missing parent fails", async () => {
  const target = fresh();
  mkdirSync(target);
  writeFileSync(join(target, "mine"), "keep");
  try {
    await unpackNar(narArchive(narDir(["a", narFile("x")])), target);
    assert.unreachable();
  } catch (e) {
    assert.is((e as NodeJS.ErrnoException).code, "EEXIST");
  }
  assert.equal(readdirSync(target), ["mine"]);
  try {
    await unpackNar(narArchive(narFile("x")), join(work, "no-such-parent", "out"));
    assert.unreachable();
  } catch (e) {
    assert.is((e as NodeJS.ErrnoException).code, "ENOENT");
  }
});

// A box with a sentinel directory beside the target: nothing may ever appear or change there.
function makeBox(): { box: string; sentinel: string; target: string; check: () => void } {
  const box = mkdtempSync(join(work, "box-"));
  const sentinel = join(box, "sentinel");
  mkdirSync(sentinel);
  writeFileSync(join(sentinel, "keep"), "precious");
  return {
    box,
    sentinel,
    target: join(box, "out"),
    check() {
      assert.equal(readdirSync(box).sort(), ["sentinel"]);
      assert.equal(readdirSync(sentinel), ["keep"]);
      assert.is(readFileSync(join(sentinel, "keep"), "utf8"), "precious");
    },
  };
}

async function mustFail(
  source: NarSource,
  target: string,
  message: RegExp,
  errorClass: new (...args: never[]) => Error = NarFormatError,
  options: UnpackOptions = {},
) {
  try {
    await unpackNar(source, target, options);
    assert.unreachable(`unpacked a NAR that should fail with ${message}`);
  } catch (e) {
    assert.instance(e, errorClass);
    assert.match((e as Error).message, message);
  }
  assert.not.ok(existsSync(target), "the partial unpack was not removed");
}

test("malicious NARs fail, remove their partial output and never write outside the target", async () => {
  const { sentinel, target, check } = makeBox();
  const cases: [Buffer, RegExp][] = [
    // A symlink, then a directory of the same name to write through it.
    [narArchive(narDir(["a", narLink(sentinel)], ["a", narDir(["pwned", narFile("x")])])), /duplicate entry/],
    [
      narArchive(narDir(["a", narLink("../sentinel")], ["a", narDir(["pwned", narFile("x")])])),
      /duplicate entry/,
    ],
    [narArchive(narDir(["a", narLink("../sentinel")], ["a/pwned", narFile("x")])), /contains '\/'/],
    [narArchive(narDir(["b", narLink("../sentinel")], ["a", narFile("x")])), /not sorted/],
    [narArchive(narDir(["..", narDir(["sentinel", narDir(["pwned", narFile("x")])])])), /reserved/],
    [narArchive(narDir([".", narFile("x")])), /reserved/],
    [narArchive(narDir(["../sentinel", narFile("x")])), /contains '\/'/],
    [narArchive(narDir([`${sentinel}/pwned`, narFile("x")])), /contains '\/'/],
    [narArchive(narDir(["", narFile("x")])), /empty/],
    [narArchive(narDir(["a\0b", narFile("x")])), /NUL/],
    // Created a symlink to the outside before failing: cleanup must remove the link, not follow it.
    [
      Buffer.concat([
        narArchive(narDir(["a", narLink(sentinel)], ["b", narLink("../sentinel")])),
        narStrings("trailing"),
      ]),
      /trailing data/,
    ],
    [Buffer.concat([narArchive(narLink(sentinel)), narStrings("x")]), /trailing data/],
    [Buffer.concat([narArchive(narLink("sentinel")), narStrings("x")]), /trailing data/],
    [narArchive(narDir(["a", narDir(["b", narFile("x", true)])])).subarray(0, 250), /unexpected end/],
    [
      Buffer.concat([
        narArchive(narStrings("(", "type", "regular", "contents")),
        u64(1000),
        Buffer.alloc(10),
      ]),
      /unexpected end/,
    ],
    [narArchive(narStrings("(", "type", "fifo", ")")), /unknown node type/],
  ];
  for (const [bytes, message] of cases) {
    await mustFail(bytes, target, message);
    await mustFail(chunked(bytes, 3), target, message);
    check();
  }
});

test("a failing source or a hash/size mismatch removes the partial output", async () => {
  const { target, check } = makeBox();
  async function* failing() {
    yield treeNar.subarray(0, 5000);
    throw new Error("connection reset");
  }
  await mustFail(failing(), target, /connection reset/, Error);
  check();
  await mustFail(treeNar, target, /narSize mismatch/, NarMismatchError, {
    expect: { narSize: treeNar.length + 1 },
  });
  check();
  const wrong = createHash("sha256").update("other").digest();
  await mustFail(treeNar, target, /narHash mismatch/, NarMismatchError, { expect: { narHash: wrong } });
  check();
  const right = createHash("sha256").update(treeNar).digest();
  await unpackNar(treeNar, target, { expect: { narHash: right, narSize: treeNar.length } });
  assert.ok(nixDump(target).equals(treeNar));
  await removeReadOnlyTree(target);
  check();
});

test("fuzz: mutated NARs unpack faithfully inside the target or fail with NarFormatError", async () => {
  const { box, sentinel, check } = makeBox();
  const base = narArchive(
    narDir(
      ["a", narFile("alpha")],
      ["abs", narLink(sentinel)],
      ["d", narDir(["f", narFile("#!/bin/sh\n", true)], ["up", narLink("../../sentinel")], ["z", narDir()])],
      ["zz", narFile(Buffer.alloc(100, 7))],
    ),
  );
  let seed = 0x2545f491;
  const rand = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  let ok = 0;
  let failed = 0;
  for (let i = 0; i < 300; i++) {
    let bytes = Buffer.from(base);
    const kind = rand(4);
    if (kind === 0) {
      for (let k = 0; k <= rand(3); k++) bytes[rand(bytes.length)] = rand(256);
    } else if (kind === 1) {
      bytes = bytes.subarray(0, rand(bytes.length));
    } else if (kind === 2) {
      const at = rand(bytes.length);
      bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([rand(256), rand(256)]), bytes.subarray(at)]);
    } else {
      // Flip one byte of a length or token so structure, not just contents, is hit.
      const at = rand(bytes.length / 8) * 8;
      bytes[at] = (bytes[at] as number) ^ (1 << rand(8));
    }
    const target = join(box, "out");
    try {
      const { narHash } = await unpackNar(chunked(bytes, 1 + rand(64)), target);
      // Canonical NARs only: what was accepted must dump back to exactly the same bytes.
      assert.ok(nixDump(target).equals(bytes), `iteration ${i}: unpacked tree differs from its NAR`);
      assert.ok(narHash.equals(createHash("sha256").update(bytes).digest()));
      await removeReadOnlyTree(target);
      ok++;
    } catch (e) {
      if (!(e instanceof NarFormatError)) throw new Error(`iteration ${i}: ${e}`);
      assert.not.ok(existsSync(target), `iteration ${i}: partial output left behind`);
      failed++;
    }
    check();
  }
  assert.ok(ok > 10 && failed > 100, `ok=${ok} failed=${failed}`);
});

test.run();
