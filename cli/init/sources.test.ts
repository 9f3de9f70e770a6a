// flox init's sources: URLs and git repos hashed as Nix does, the template proposed from what a source directory
// holds, and package names judged by the push gate's own rules.
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { build, fixtureBase, flox, newCheckout, ok, runStored } from "../../testing/init-cli.js";
import { gitIn } from "../../testing/repos.js";

let tmp: string;

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "flox-init-test-"));
});
test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test("a URL source is downloaded and hashed as nix-prefetch-url does, and builds from loopback", async () => {
  const script = "#!/bin/sh\necho fetched from the web\n";
  const server: Server = createServer((req, res) => {
    if (req.url === "/fetched.sh") res.end(script);
    else res.writeHead(404).end("no");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const dir = await newCheckout(tmp, "url");
    const r = ok(
      await flox(dir, [
        "init",
        "--name",
        "fetched",
        "--template",
        "shell",
        "--src",
        `${base}/fetched.sh`,
        "--yes",
        "--json",
      ]),
      "init url",
    );
    const src = JSON.parse(r.stdout).package.source as { kind: string; url: string; sha256: string };
    await writeFile(join(tmp, "fetched.sh"), script);
    const nixHash = await execa("nix-hash", [
      "--type",
      "sha256",
      "--flat",
      "--base32",
      join(tmp, "fetched.sh"),
    ]);
    assert.equal(src, { kind: "url", url: `${base}/fetched.sh`, sha256: String(nixHash.stdout).trim() });
    const file = await readFile(join(dir, "pkgs", "fetched", "default.nix"), "utf8");
    assert.match(file, /^\{ lib, stdenv, fetchurl \}:$/m);
    assert.match(file, `sha256 = "${src.sha256}";`);
    assert.match(file, "dontUnpack = true;");
    const built = await build(dir, "fetched");
    assert.is(await runStored(built.storeRoot, `${built.out}/bin/fetched`), "fetched from the web");

    const missing = await flox(dir, ["init", "--name", "gone", "--src", `${base}/gone.tar.gz`, "--yes"]);
    assert.is(missing.exitCode, 1);
    assert.match(missing.stderr, `cannot download ${base}/gone.tar.gz: HTTP 404`);
  } finally {
    server.close();
  }
});

test("a git source is cloned and hashed as fetchgit does (the NAR of its files), and evaluates with fetchgit", async () => {
  const upstream = join(tmp, "upstream");
  await mkdir(join(upstream, "sub"), { recursive: true });
  await writeFile(join(upstream, "Makefile"), "all:\n");
  await writeFile(join(upstream, "sub", "tool.c"), "int main(void) { return 0; }\n");
  await gitIn(upstream, "init", "-q", "-b", "main");
  await gitIn(upstream, "add", "-A");
  await gitIn(upstream, "commit", "-q", "-m", "one");
  const rev = await gitIn(upstream, "rev-parse", "HEAD");
  await writeFile(join(upstream, "later.txt"), "after the tag\n");
  await gitIn(upstream, "tag", "v1", rev);
  await gitIn(upstream, "add", "-A");
  await gitIn(upstream, "commit", "-q", "-m", "two");

  const dir = await newCheckout(tmp, "git");
  const r = ok(
    await flox(dir, [
      "init",
      "--name",
      "tool",
      "--template",
      "c-make",
      "--src",
      `git+file://${upstream}`,
      "--git-ref",
      "v1",
      "--yes",
      "--json",
    ]),
    "init git",
  );
  const src = JSON.parse(r.stdout).package.source as { kind: string; rev: string; sha256: string };
  // Nix's own NAR hash of the same files (the commit's tree, no .git).
  const export_ = join(tmp, "export");
  await mkdir(export_);
  await execa("sh", ["-c", `git -C '${upstream}' archive v1 | tar -x -C '${export_}'`]);
  const nixHash = String((await execa("nix-hash", ["--type", "sha256", "--base32", export_])).stdout).trim();
  assert.equal(src, { kind: "git", url: `file://${upstream}`, rev, sha256: nixHash });
  const file = await readFile(join(dir, "pkgs", "tool", "default.nix"), "utf8");
  assert.match(file, /^\{ lib, stdenv, fetchgit \}:$/m);
  assert.match(file, `rev = "${rev}";`);
  ok(await flox(dir, ["check", "--base", fixtureBase]), "flox check with a base that has fetchgit");
  const boot = await flox(dir, ["check"]);
  assert.is(boot.exitCode, 1, "the bootstrap set has no fetchgit");
  assert.match(boot.stdout, /^pkgs\/tool\/default\.nix:\d+: .*fetchgit/m);
});

test("the template is proposed from what the source directory holds; outside sources are copied in", async () => {
  const dir = await newCheckout(tmp, "detect");
  const cases: Array<[string, Record<string, string>, string]> = [
    ["c", { Makefile: "all:\n", "main.c": "" }, "c-make"],
    ["js", { "package.json": "{}\n", "index.js": "" }, "node"],
    ["py", { "pyproject.toml": "[project]\n" }, "python"],
    ["setup", { "setup.py": "" }, "python"],
    ["script", { "run.sh": "#!/bin/sh\n" }, "shell"],
    ["files", { "words.txt": "a\n" }, "data"],
    ["gomod", { "go.mod": "module x\n" }, "shell"],
  ];
  for (const [name, files, expected] of cases) {
    const src = join(tmp, "sources", name);
    await mkdir(src, { recursive: true });
    for (const [f, content] of Object.entries(files)) await writeFile(join(src, f), content);
    const r = ok(await flox(dir, ["init", "--name", name, "--src", src, "--yes", "--json"]), `init ${name}`);
    const out = JSON.parse(r.stdout) as { package: { template: string; source: unknown }; notes: string[] };
    assert.is(out.package.template, expected, `${name}: ${Object.keys(files).join(", ")}`);
    assert.equal(out.package.source, { kind: "local", path: "src" });
    assert.match(out.notes[0] ?? "", `to pkgs/${name}/src`);
    for (const f of Object.keys(files)) await stat(join(dir, "pkgs", name, "src", f));
  }
  // A Go module has no template: the default is taken, and the human output says what was seen.
  await mkdir(join(tmp, "sources", "go2"));
  await writeFile(join(tmp, "sources", "go2", "go.mod"), "module y\n");
  const go = await flox(dir, ["init", "--name", "go2", "--src", join(tmp, "sources", "go2"), "--yes"]);
  assert.match(go.stdout, "created pkgs/go2 from the shell template");
});

test("package names are judged by the push gate's own rules", async () => {
  const dir = await newCheckout(tmp, "names");
  ok(await flox(dir, ["init", "--name", "hello", "--yes"]), "init hello");
  const bad = await flox(dir, ["init", "--name", "-foo", "--yes"]);
  assert.is(bad.exitCode, 2);
  assert.match(
    bad.stderr,
    'pkgs/-foo/:1: invalid package name "-foo": it must start with a letter or digit and hold only letters, digits and . _ + - (rename the directory, e.g. to pkgs/foo/)',
  );
  const clash = await flox(dir, ["init", "--name", "Hello", "--yes"]);
  assert.is(clash.exitCode, 2);
  assert.match(
    clash.stderr,
    "pkgs/Hello/:1: package name Hello clashes with pkgs/hello/ (names must be unique ignoring case)",
  );
  const again = await flox(dir, ["init", "--name", "hello", "--yes"]);
  assert.is(again.exitCode, 2);
  assert.match(again.stderr, "pkgs/hello/ already exists");
  const noName = await flox(dir, ["init", "--yes"]);
  assert.is(noName.exitCode, 2);
  assert.match(noName.stderr, "--name NAME is needed");
  const badTemplate = await flox(dir, ["init", "--name", "x", "--template", "cobol", "--yes"]);
  assert.is(badTemplate.exitCode, 2);
  assert.match(badTemplate.stderr, "one of shell, data, c-make, python, node, binary");
  assert.equal((await execa("ls", [join(dir, "pkgs")])).stdout, "hello", "nothing else was written");
});

test.run();
