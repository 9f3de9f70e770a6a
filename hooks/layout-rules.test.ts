import { test } from "uvu";
import * as assert from "uvu/assert";
import { checkLayout, formatProblem, formatSize, type TreeEntry } from "./layout-rules.js";

const opts = { maxFileSize: 1024 * 1024 };

const file = (path: string, size = 10): TreeEntry => ({ path, mode: "100644", size });
const link = (path: string, symlinkTarget: string): TreeEntry => ({
  path,
  mode: "120000",
  size: symlinkTarget.length,
  symlinkTarget,
});
const good = [file("README.md"), file("pkgs/hello/default.nix"), file("lib/util.nix")];

function lines(entries: TreeEntry[], o = opts): string[] {
  return checkLayout(entries, o).map(formatProblem);
}

const TOP_HINT =
  "(the top level may hold only pkgs/, lib/, README*, LICENSE*, .gitignore, .gitattributes and flox.toml; " +
  "move it (a package goes in pkgs/<name>/default.nix) or remove it)";

test("a good tree has no problems", () => {
  assert.equal(
    lines([
      ...good,
      file("LICENSE"),
      file("readme.txt"),
      file(".gitignore"),
      file(".gitattributes"),
      file("flox.toml"),
      file("pkgs/hello/hello.patch"),
      file("pkgs/hello/src/main.c"),
      { path: "pkgs/hello/build.sh", mode: "100755", size: 5 },
      { path: "pkgs/hello", mode: "040000", size: 0 },
      file("pkgs/g++_4.9-x/default.nix"),
      file("lib/deep/er.nix"),
    ]),
    [],
  );
});

test("an empty tree has no problems", () => {
  assert.equal(lines([]), []);
});

test("top-level files and directories outside the layout", () => {
  assert.equal(lines([...good, file("default.nix"), file("src/a.c"), file("src/b.c"), file("docs/x/y.md")]), [
    `default.nix:1: default.nix is not allowed at the top level ${TOP_HINT}`,
    `docs/:1: docs/ is not allowed at the top level ${TOP_HINT}`,
    `src/:1: src/ is not allowed at the top level ${TOP_HINT}`,
  ]);
});

test("pkgs and lib must be directories", () => {
  assert.equal(lines([file("pkgs"), file("lib")]), [
    "lib:1: lib must be a directory (put shared Nix helpers in lib/*.nix)",
    "pkgs:1: pkgs must be a directory (put each package in pkgs/<name>/default.nix)",
  ]);
});

test("files and symlinks directly in pkgs/", () => {
  assert.equal(lines([...good, file("pkgs/foo.nix"), link("pkgs/bar", "hello")]), [
    "pkgs/bar:1: symlink directly in pkgs/ (only package directories belong there) " +
      "(make it a package, pkgs/<name>/default.nix, or move it into the package that uses it)",
    "pkgs/foo.nix:1: file directly in pkgs/ (only package directories belong there) " +
      "(make it a package, pkgs/<name>/default.nix, or move it into the package that uses it)",
  ]);
});

test("a package directory without default.nix", () => {
  assert.equal(lines([...good, file("pkgs/foo/package.nix"), file("pkgs/bar/sub/default.nix")]), [
    "pkgs/bar/:1: package bar has no default.nix (add pkgs/bar/default.nix, a callPackage-style function " +
      "({ stdenv, ... }: stdenv.mkDerivation { ... }), or run flox init)",
    "pkgs/foo/:1: package foo has no default.nix (add pkgs/foo/default.nix, a callPackage-style function " +
      "({ stdenv, ... }: stdenv.mkDerivation { ... }), or run flox init)",
  ]);
});

test("default.nix must be a regular file", () => {
  assert.equal(lines([...good, file("pkgs/foo/pkg.nix"), link("pkgs/foo/default.nix", "pkg.nix")]), [
    "pkgs/foo/default.nix:1: default.nix is a symlink (make it a regular file holding the package's function)",
  ]);
});

test("invalid package names, with a suggested fix", () => {
  assert.equal(lines([...good, file("pkgs/my pkg/default.nix"), file("pkgs/.hidden/default.nix")]), [
    'pkgs/.hidden/:1: invalid package name ".hidden": it must start with a letter or digit and hold only ' +
      "letters, digits and . _ + - (rename the directory, e.g. to pkgs/hidden/)",
    'pkgs/my pkg/:1: invalid package name "my pkg": it must start with a letter or digit and hold only ' +
      "letters, digits and . _ + - (rename the directory, e.g. to pkgs/my-pkg/)",
  ]);
  assert.equal(lines([file("pkgs/__/default.nix")]), [
    'pkgs/__/:1: invalid package name "__": it must start with a letter or digit and hold only ' +
      "letters, digits and . _ + - (rename the directory)",
  ]);
});

test("package names unique ignoring case: every clashing path is reported", () => {
  assert.equal(lines([...good, file("pkgs/Hello/default.nix"), file("pkgs/HELLO/default.nix")]), [
    "pkgs/HELLO/:1: package name HELLO clashes with pkgs/Hello/, pkgs/hello/ (names must be unique ignoring case) " +
      "(rename or merge them: they collide on case-insensitive file systems and in channel URLs)",
    "pkgs/Hello/:1: package name Hello clashes with pkgs/HELLO/, pkgs/hello/ (names must be unique ignoring case) " +
      "(rename or merge them: they collide on case-insensitive file systems and in channel URLs)",
    "pkgs/hello/:1: package name hello clashes with pkgs/HELLO/, pkgs/Hello/ (names must be unique ignoring case) " +
      "(rename or merge them: they collide on case-insensitive file systems and in channel URLs)",
  ]);
});

test("lib/ holds only .nix files", () => {
  assert.equal(lines([...good, file("lib/data.json"), file("lib/sub/x.nix")]), [
    "lib/data.json:1: lib/ holds only .nix files (move it into the package directory that uses it (pkgs/<name>/))",
  ]);
});

test("submodules are refused wherever they are", () => {
  const sub = (path: string): TreeEntry => ({ path, mode: "160000", size: 0 });
  assert.equal(lines([...good, sub("pkgs/hello/vendor"), sub("extern")]), [
    "extern:1: git submodules are not allowed " +
      "(vendor the files into the repo or fetch the source in the package's derivation)",
    "pkgs/hello/vendor:1: git submodules are not allowed " +
      "(vendor the files into the repo or fetch the source in the package's derivation)",
  ]);
});

const LINK_HINT = "(point it at a file inside the repo with a relative target, or copy the file in)";

test("symlinks that stay inside the repo are fine", () => {
  assert.equal(
    lines([
      ...good,
      link("pkgs/hello/util.nix", "../../lib/util.nix"),
      link("pkgs/hello/self", "."),
      link("pkgs/hello/up", "./../hello/../../pkgs"),
      link("README", "README.md"),
    ]),
    [],
  );
});

test("absolute symlinks and symlinks leaving the repo", () => {
  assert.equal(
    lines([
      ...good,
      link("pkgs/hello/passwd", "/etc/passwd"),
      link("pkgs/hello/out", "../../../outside"),
      link("lib/x.nix", "../.."),
    ]),
    [
      `lib/x.nix:1: symlink target ../.. leaves the repo ${LINK_HINT}`,
      `pkgs/hello/out:1: symlink target ../../../outside leaves the repo ${LINK_HINT}`,
      `pkgs/hello/passwd:1: symlink target /etc/passwd is an absolute path ${LINK_HINT}`,
    ],
  );
});

test("a chain of links that each look harmless cannot leave the repo", () => {
  // `top` resolves to the repo root, so `top/..` is its parent even though it normalises to `.`.
  assert.equal(lines([...good, link("pkgs/hello/top", "../.."), link("pkgs/hello/escape", "top/../x")]), [
    `pkgs/hello/escape:1: symlink target top/../x leaves the repo ${LINK_HINT}`,
  ]);
  assert.equal(lines([...good, link("pkgs/hello/a", "b"), link("pkgs/hello/b", "a")]), [
    `pkgs/hello/a:1: symlink target b loops (too many levels of symlinks) ${LINK_HINT}`,
    `pkgs/hello/b:1: symlink target a loops (too many levels of symlinks) ${LINK_HINT}`,
  ]);
});

test("a link through an absolute link is refused", () => {
  assert.equal(lines([...good, link("pkgs/hello/abs", "/usr"), link("pkgs/hello/via", "abs/lib")]), [
    `pkgs/hello/abs:1: symlink target /usr is an absolute path ${LINK_HINT}`,
    `pkgs/hello/via:1: symlink target abs/lib leads to an absolute path (/usr) ${LINK_HINT}`,
  ]);
});

test("files over the size limit name the size and the limit", () => {
  assert.equal(
    lines([...good, file("pkgs/hello/big.tar", 3 * 1024 * 1024 + 1), file("pkgs/hello/ok", 1048576)]),
    [
      "pkgs/hello/big.tar:1: file is 3.0 MiB (3145729 bytes), over the 1.0 MiB (1048576 bytes) limit " +
        "(keep big sources out of the repo: fetch them in the derivation (fetchurl with a hash), " +
        "or ask the server admin to raise the limit)",
    ],
  );
  assert.equal(lines([file("README", 101)], { maxFileSize: 100 }), [
    "README:1: file is 101 bytes, over the 100 bytes limit " +
      "(keep big sources out of the repo: fetch them in the derivation (fetchurl with a hash), " +
      "or ask the server admin to raise the limit)",
  ]);
});

test("problems from several rules come out together, sorted by path", () => {
  const ps = checkLayout([file("zzz"), file("pkgs/a b/x"), file("lib/a.txt", 5000)], { maxFileSize: 100 });
  assert.equal(
    ps.map((p) => `${p.path}|${p.line}|${p.message}`),
    [
      "lib/a.txt|1|file is 4.9 KiB (5000 bytes), over the 100 bytes limit",
      "lib/a.txt|1|lib/ holds only .nix files",
      'pkgs/a b/|1|invalid package name "a b": it must start with a letter or digit and hold only letters, digits and . _ + -',
      "pkgs/a b/|1|package a b has no default.nix",
      "zzz|1|zzz is not allowed at the top level",
    ],
  );
});

test("paths git would refuse to check out", () => {
  assert.equal(
    lines([...good, file("pkgs/hello/.git/config"), file("pkgs/hello/../x"), file(".GIT/hooks")]),
    [
      '.GIT/hooks:1: path component ".GIT" is not allowed (rename it: git refuses to check such a path out)',
      'pkgs/hello/../x:1: path component ".." is not allowed (rename it: git refuses to check such a path out)',
      'pkgs/hello/.git/config:1: path component ".git" is not allowed (rename it: git refuses to check such a path out)',
    ],
  );
});

test("formatSize and formatProblem", () => {
  assert.is(formatSize(0), "0 bytes");
  assert.is(formatSize(1536), "1.5 KiB (1536 bytes)");
  assert.is(formatSize(5 * 1024 ** 3), "5.0 GiB (5368709120 bytes)");
  assert.is(formatProblem({ path: "a\nb", line: 3, message: "m" }), "a\\x0ab:3: m");
});

test.run();
