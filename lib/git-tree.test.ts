import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  GitCommandError,
  isAncestor,
  listTree,
  materializeTree,
  revParse,
  TreeTooLargeError,
  UnsafeTreePathError,
} from "./git-tree.js";

let work = "";
let repo = "";
let commit = "";
const big = randomBytes(3 * 1024 * 1024 + 17);

test.before(async () => {
  work = await mkdtemp(join(tmpdir(), "flox-git-tree-"));
  repo = join(work, "repo");
  await mkdir(join(repo, "pkgs/hello"), { recursive: true });
  await writeFile(
    join(repo, "pkgs/hello/default.nix"),
    '{ stdenv }: stdenv.mkDerivation { name = "hello"; }\n',
  );
  await writeFile(join(repo, "pkgs/hello/build.sh"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  await writeFile(join(repo, "pkgs/hello/empty"), "");
  await writeFile(join(repo, "pkgs/hello/copy.nix"), '{ stdenv }: stdenv.mkDerivation { name = "hello"; }\n');
  await writeFile(join(repo, "pkgs/hello/big.bin"), big);
  await writeFile(join(repo, "pkgs/hello/odd\nname"), "x");
  // CRLF conversion and export-ignore must not change what is checked.
  await writeFile(join(repo, ".gitattributes"), "*.txt text eol=crlf\npkgs/hello/ignored export-ignore\n");
  await writeFile(join(repo, "pkgs/hello/a.txt"), "one\ntwo\n");
  await writeFile(join(repo, "pkgs/hello/ignored"), "still here");
  await symlink("../../lib/util.nix", join(repo, "pkgs/hello/util.nix"));
  await symlink("/etc/passwd", join(repo, "pkgs/hello/abs"));
  await mkdir(join(repo, "lib"));
  await writeFile(join(repo, "lib/util.nix"), "{ }\n");
  const g = (...args: string[]) => execa("git", args, { cwd: repo });
  await g("init", "-q", "-b", "main");
  await g("add", "-A");
  await g("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one");
  commit = (await g("rev-parse", "HEAD")).stdout.trim();
});

test.after(async () => {
  await rm(work, { recursive: true, force: true });
});

test("listTree lists every entry with mode, size and symlink targets", async () => {
  const entries = await listTree(commit, { cwd: repo });
  const byPath = new Map(entries.map((e) => [e.path, e]));
  assert.equal(
    entries.map((e) => e.path),
    [
      ".gitattributes",
      "lib/util.nix",
      "pkgs/hello/a.txt",
      "pkgs/hello/abs",
      "pkgs/hello/big.bin",
      "pkgs/hello/build.sh",
      "pkgs/hello/copy.nix",
      "pkgs/hello/default.nix",
      "pkgs/hello/empty",
      "pkgs/hello/ignored",
      "pkgs/hello/odd\nname",
      "pkgs/hello/util.nix",
    ],
  );
  assert.is(byPath.get("pkgs/hello/big.bin")?.size, big.length);
  assert.is(byPath.get("pkgs/hello/build.sh")?.mode, "100755");
  assert.is(byPath.get("pkgs/hello/default.nix")?.mode, "100644");
  assert.equal(byPath.get("pkgs/hello/util.nix"), {
    path: "pkgs/hello/util.nix",
    mode: "120000",
    oid: byPath.get("pkgs/hello/util.nix")?.oid,
    size: 18,
    symlinkTarget: "../../lib/util.nix",
  });
  assert.is(byPath.get("pkgs/hello/abs")?.symlinkTarget, "/etc/passwd");
  assert.match(byPath.get("lib/util.nix")?.oid ?? "", /^[0-9a-f]{40}$/);
});

test("materializeTree writes the blobs byte for byte, with modes and symlinks", async () => {
  const entries = await listTree(commit, { cwd: repo });
  const dest = join(work, "out");
  await materializeTree(entries, dest, { cwd: repo });
  assert.ok((await readFile(join(dest, "pkgs/hello/big.bin"))).equals(big));
  assert.is(await readFile(join(dest, "pkgs/hello/a.txt"), "utf8"), "one\ntwo\n");
  assert.is(await readFile(join(dest, "pkgs/hello/ignored"), "utf8"), "still here");
  assert.is(await readFile(join(dest, "pkgs/hello/empty"), "utf8"), "");
  assert.is(
    await readFile(join(dest, "pkgs/hello/copy.nix"), "utf8"),
    await readFile(join(dest, "pkgs/hello/default.nix"), "utf8"),
  );
  assert.is((await stat(join(dest, "pkgs/hello/build.sh"))).mode & 0o777, 0o755);
  assert.is(await readlink(join(dest, "pkgs/hello/util.nix")), "../../lib/util.nix");
  assert.is(await readFile(join(dest, "pkgs/hello/util.nix"), "utf8"), "{ }\n");
});

test("materializeTree writes only the entries it is given", async () => {
  const entries = (await listTree(commit, { cwd: repo })).filter(
    (e) => e.path.endsWith(".nix") && e.mode !== "120000",
  );
  const dest = join(work, "only-nix");
  await materializeTree(entries, dest, { cwd: repo });
  assert.is(await readFile(join(dest, "lib/util.nix"), "utf8"), "{ }\n");
  assert.is(await stat(join(dest, "pkgs/hello/big.bin")).catch(() => undefined), undefined);
});

test("materializeTree refuses trees over the sanity limit and unsafe paths", async () => {
  const entries = await listTree(commit, { cwd: repo });
  try {
    await materializeTree(entries, join(work, "too-big"), { cwd: repo, maxTotalBytes: 1024 * 1024 });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, TreeTooLargeError);
  }
  const first = entries[0];
  if (!first) throw new Error("no entries");
  try {
    await materializeTree([{ ...first, path: "a/../../x" }], join(work, "unsafe"), { cwd: repo });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, UnsafeTreePathError);
  }
});

test("revParse, isAncestor and errors", async () => {
  assert.is(await revParse("refs/heads/main", { cwd: repo }), commit);
  assert.is(await revParse("refs/heads/nope", { cwd: repo }), undefined);
  assert.ok(await isAncestor(commit, commit, { cwd: repo }));
  try {
    await listTree("0".repeat(40), { cwd: repo });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, GitCommandError);
  }
});

test.run();
