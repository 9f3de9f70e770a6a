import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { narChunks, narHashOfPath, narStream, UnsupportedFileTypeError } from "./nar-writer.js";

const work = mkdtempSync(join(tmpdir(), "flox-nar-writer-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));

const BIG = 1024 * 1024 + 4093; // over 1 MiB and not a multiple of 8, so the padding is exercised

function bigContents(): Buffer {
  const b = Buffer.alloc(BIG);
  for (let i = 0; i < BIG; i++) b[i] = (i * 2654435761) >>> 24;
  return b;
}

/** Every kind of node and name that has tripped up a NAR writer. */
function makeTree(root: string): void {
  mkdirSync(root);
  writeFileSync(join(root, "hello"), "hello\n");
  writeFileSync(join(root, "run"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  writeFileSync(join(root, "owner-exec-only"), "x", { mode: 0o100 });
  writeFileSync(join(root, "group-exec-only"), "x", { mode: 0o654 });
  writeFileSync(join(root, "setuid"), "x", { mode: 0o4755 });
  writeFileSync(join(root, "empty"), "");
  mkdirSync(join(root, "emptydir"));
  symlinkSync("/etc/passwd", join(root, "abs"));
  symlinkSync("hello", join(root, "rel"));
  symlinkSync("../nowhere/at/all", join(root, "dangling"));
  // UTF-16 order puts U+1F600 (a surrogate pair, 0xD83D...) before U+FFFD; UTF-8 bytes the reverse.
  writeFileSync(join(root, "\u{1F600}"), "grin");
  writeFileSync(join(root, "\uFFFD"), "replacement");
  writeFileSync(join(root, "é"), "e-acute");
  for (const n of ["Case", "case", "CASE"]) writeFileSync(join(root, n), n);
  for (const n of ["10", "9", "__proto__", 'quo"te', "back\\slash", "new\nline", "tab\t"]) {
    writeFileSync(join(root, n), n);
  }
  writeFileSync(Buffer.from(`${root}/not-utf8-\xff`, "latin1"), "raw bytes");
  let deep = join(root, "deep");
  for (let i = 0; i < 40; i++) {
    deep = join(deep, `d${i}`);
  }
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, "leaf"), "bottom");
  writeFileSync(join(root, "big"), bigContents());
}

const tree = join(work, "tree");
makeTree(tree);

function nixDump(path: string): Buffer {
  return execFileSync("nix-store", ["--dump", path], { maxBuffer: 1 << 30 });
}

function nixHash(path: string): string {
  return execFileSync("nix-hash", ["--type", "sha256", path], { encoding: "utf8" }).trim();
}

async function collect(path: string): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const c of narChunks(path)) chunks.push(c);
  return chunks;
}

test("a tree of every kind of node serialises byte-for-byte as nix-store --dump", async () => {
  const ours = Buffer.concat(await collect(tree));
  const theirs = nixDump(tree);
  assert.is(ours.length, theirs.length);
  assert.ok(ours.equals(theirs), "NAR bytes differ from nix-store --dump");
});

test("narHashOfPath equals nix-hash --type sha256 and the dump's length", async () => {
  const { narHash, narSize } = await narHashOfPath(tree);
  assert.is(narHash.toString("hex"), nixHash(tree));
  assert.is(narSize, nixDump(tree).length);
});

test("entries are in UTF-8 byte order, not JS string order", async () => {
  const nar = Buffer.concat(await collect(tree));
  const fffd = nar.indexOf(Buffer.from("\uFFFD"));
  const grin = nar.indexOf(Buffer.from("\u{1F600}"));
  assert.ok(fffd > 0 && grin > 0);
  assert.ok(fffd < grin, "U+FFFD (EF BF BD) must come before U+1F600 (F0 9F 98 80)");
  assert.ok(nar.indexOf(Buffer.from("CASE")) < nar.indexOf(Buffer.from("Case")));
});

test("big files are streamed in bounded chunks", async () => {
  const file = join(tree, "big");
  const chunks = await collect(file);
  assert.ok(chunks.length > 3, `expected several chunks, got ${chunks.length}`);
  for (const c of chunks) assert.ok(c.length <= 512 * 1024, `chunk of ${c.length} bytes`);
  assert.ok(Buffer.concat(chunks).equals(nixDump(file)));
});

test("a root that is a file, an executable or a symlink matches nix-store --dump", async () => {
  for (const name of ["hello", "run", "empty", "abs", "dangling", "owner-exec-only", "group-exec-only"]) {
    const path = join(tree, name);
    assert.ok(Buffer.concat(await collect(path)).equals(nixDump(path)), name);
    assert.is((await narHashOfPath(path)).narHash.toString("hex"), nixHash(path), name);
  }
});

test("narStream is a byte stream that pipes into a hash", async () => {
  const h = createHash("sha256");
  await pipeline(narStream(tree), h);
  assert.is(h.digest("hex"), nixHash(tree));
});

test("sockets and fifos are rejected with UnsupportedFileTypeError", async () => {
  const dir = join(work, "special");
  mkdirSync(dir);
  writeFileSync(join(dir, "ok"), "");
  const fifo = join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  try {
    await collect(dir);
    assert.unreachable("fifo accepted");
  } catch (e) {
    assert.instance(e, UnsupportedFileTypeError);
    assert.match((e as Error).message, /fifo/);
  }
  // Nix refuses them too, so there is no NAR we could disagree with.
  assert.match(spawnSync("nix-store", ["--dump", dir], { encoding: "utf8" }).stderr, /unsupported type/);
  rmSync(fifo);
  const sock = join(dir, "sock");
  const server = createServer();
  await new Promise<void>((res) => server.listen(sock, res));
  try {
    await collect(dir);
    assert.unreachable("socket accepted");
  } catch (e) {
    assert.instance(e, UnsupportedFileTypeError);
    assert.match((e as Error).message, /socket/);
    assert.match(spawnSync("nix-store", ["--dump", dir], { encoding: "utf8" }).stderr, /unsupported type/);
  } finally {
    server.close();
  }
});

test("a missing path is an ordinary ENOENT error", async () => {
  try {
    await collect(join(work, "nope"));
    assert.unreachable();
  } catch (e) {
    assert.is((e as NodeJS.ErrnoException).code, "ENOENT");
  }
});

test("an unreadable file fails instead of producing a wrong NAR", async () => {
  if (process.getuid?.() === 0) return; // root reads anything
  const dir = join(work, "unreadable");
  mkdirSync(dir);
  writeFileSync(join(dir, "secret"), "x");
  chmodSync(join(dir, "secret"), 0);
  try {
    await collect(dir);
    assert.unreachable();
  } catch (e) {
    assert.is((e as NodeJS.ErrnoException).code, "EACCES");
  }
});

test.run();
