// Builds the org packages of fixtures/repos/good (and a few made here) with the bootstrap
// base set in a chroot store, then runs what they installed. Store paths name /nix/store/…,
// so the programs run in a private mount namespace with the chroot's store bound over
// /nix/store: exactly what an endpoint sees, and the host's /nix/store is never touched.

import { createHash } from "node:crypto";
import { cp, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  createNixTestStore,
  NixCommandError,
  type NixTestStore,
  nixString,
} from "../../testing/nix-store.js";
import { baseDir, frameworkPath, projectRoot } from "../project-root.js";

const goodRepo = join(projectRoot, "fixtures", "repos", "good");

let nix: NixTestStore;
let scratch: string;

test.before(async () => {
  nix = await createNixTestStore();
  scratch = await mkdtemp(join(tmpdir(), "flox-base-test-"));
});

test.after(async () => {
  await nix.cleanup();
  await rm(scratch, { recursive: true, force: true });
});

/** `nix-build` of the org repo's packages, in order: their output paths. */
async function buildPackages(repo: string, attrs: string[]): Promise<string[]> {
  const out = await nix.run("nix-build", [
    "--no-out-link",
    frameworkPath,
    "--arg",
    "repo",
    `/. + ${nixString(repo)}`,
    "--arg",
    "busybox",
    `/. + ${nixString(nix.busyboxDir)}`,
    ...attrs.flatMap((a) => ["-A", a]),
  ]);
  return out.split("\n").filter(Boolean);
}

/** Runs a program with the chroot store at /nix/store, in a mount namespace of its own. */
async function run(program: string, args: string[] = [], input = "") {
  const r = await execa(
    "/usr/bin/unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "/bin/sh",
      "-c",
      // $0 is the store root; the program and its arguments follow.
      '/usr/bin/mount --bind "$0/nix/store" /nix/store && exec "$@"',
      nix.storeRoot,
      program,
      ...args,
    ],
    // Only the store: no host tool may stand in for one the package should have brought.
    { env: { PATH: "/nonexistent" }, extendEnv: false, input, reject: false },
  );
  if (r.exitCode !== 0) {
    throw new Error(`${program} ${args.join(" ")} exited ${r.exitCode}: ${String(r.stderr)}`);
  }
  return String(r.stdout);
}

test("every package of fixtures/repos/good builds and its programs run", async () => {
  const attrs = ["hello", "hello-lib", "greeting", "wordcount", "toolbox", "shout"];
  const [hello, helloLib, greeting, wordcount, toolbox, shout] = await buildPackages(goodRepo, attrs);
  assert.ok(hello && helloLib && greeting && wordcount && toolbox && shout);
  assert.match(hello, /^\/nix\/store\/[0-9a-z]{32}-hello$/);

  assert.is(await run(`${hello}/bin/hello`), "Hello, world!");
  // greeting sources hello-lib's shell library: an org package depending on another.
  assert.is(await run(`${greeting}/bin/greeting`, ["Alice"]), "Hello, Alice! Greetings from hello-lib.");
  assert.ok((await readFile(nix.realPath(`${greeting}/bin/greeting`), "utf8")).includes(helloLib));

  // wordcount: src directory, a patch, buildPhase/installPhase, lib/helpers.nix, #!/bin/sh fixed up.
  assert.is(
    await run(`${wordcount}/bin/wordcount`, [], "one two three\nfour\n"),
    "=== wordcount ===\nwords: 4\nlines: 2",
  );
  assert.is(await run(`${wordcount}/bin/wordcount`, ["--version"]), "wordcount version 1.2.0");
  const script = await readFile(nix.realPath(`${wordcount}/bin/wordcount`), "utf8");
  assert.match(script, /^#!\/nix\/store\/[0-9a-z]{32}-busybox-static\/bin\/sh\n/);
  assert.match(
    await readFile(nix.realPath(`${wordcount}/share/doc/wordcount/README`), "utf8"),
    /^wordcount: reads standard input/,
  );

  // symlinkJoin: one bin/ made of links into the joined packages, and they still run.
  assert.is(await readlink(nix.realPath(`${toolbox}/bin/hello`)), `${hello}/bin/hello`);
  assert.is(await run(`${toolbox}/bin/greeting`, ["Bob"]), "Hello, Bob! Greetings from hello-lib.");
  assert.is(await run(`${toolbox}/bin/wordcount`, [], "a b"), "=== wordcount ===\nwords: 2\nlines: 1");

  // runCommand with nativeBuildInputs: hello ran at build time from PATH.
  assert.is(await readFile(nix.realPath(`${shout}/share/shout.txt`), "utf8"), "HELLO, WORLD!\n");
});

test("a store path is what an endpoint would run: the host's /nix/store is untouched", async () => {
  const [hello] = await buildPackages(goodRepo, ["hello"]);
  assert.ok(hello);
  const onHost = await execa("test", ["-e", hello], { reject: false });
  assert.is.not(onHost.exitCode, 0, `${hello} leaked into the host's /nix/store`);
});

/** A throw-away org repo: `files` maps repo paths to contents. */
async function makeRepo(name: string, files: Record<string, string>): Promise<string> {
  const repo = join(scratch, name);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(repo, path, ".."), { recursive: true });
    await writeFile(join(repo, path), text);
  }
  return repo;
}

test("mkDerivation unpacks directories and .tar/.tar.gz/.tgz/.tar.bz2/.tar.xz archives, then patches", async () => {
  const tarballs: Record<string, string[]> = {
    "src.tar": ["-cf"],
    "src.tar.gz": ["-czf"],
    "src.tgz": ["-czf"],
    "src.tar.bz2": ["-cjf"],
    "src.tar.xz": ["-cJf"],
  };
  const pkgFor = (file: string) => `{ stdenv }:
stdenv.mkDerivation {
  pname = "unpacked";
  version = "2.0";
  src = ./${file};
  patches = [ ./fix.patch ];
  installPhase = ''
    mkdir -p $out/share
    cp msg.txt $out/share/
    basename "$PWD" > $out/share/source-root
  '';
}
`;
  const files: Record<string, string> = {};
  const names = Object.keys(tarballs).map((f) => `pkg-${f.replace(/\./g, "-")}`);
  for (const [file, name] of Object.keys(tarballs).map((f, i) => [f, names[i] as string] as const)) {
    files[`pkgs/${name}/default.nix`] = pkgFor(file);
    files[`pkgs/${name}/fix.patch`] = "--- a/msg.txt\n+++ b/msg.txt\n@@ -1 +1 @@\n-unpatched\n+patched\n";
  }
  const repo = await makeRepo("unpack", files);
  const tree = join(scratch, "tree");
  await mkdir(join(tree, "unpacked-2.0"), { recursive: true });
  await writeFile(join(tree, "unpacked-2.0", "msg.txt"), "unpatched\n");
  for (const [i, [file, flags]] of Object.entries(tarballs).entries()) {
    await execa("tar", [...flags, join(repo, "pkgs", names[i] as string, file), "-C", tree, "unpacked-2.0"]);
  }

  const outs = await buildPackages(repo, names);
  assert.is(outs.length, names.length);
  for (const out of outs) {
    assert.is(await readFile(nix.realPath(`${out}/share/msg.txt`), "utf8"), "patched\n", out);
    // An archive with one top-level directory unpacks to it, as in nixpkgs.
    assert.is(await readFile(nix.realPath(`${out}/share/source-root`), "utf8"), "unpacked-2.0\n");
  }
});

test("mkDerivation: env attrs, buildInputs on PATH, dontUnpack/dontBuild, hooks, passthru, lazy meta, finalAttrs", async () => {
  const repo = await makeRepo("features", {
    "pkgs/tool/default.nix": `{ writeShellScriptBin }: writeShellScriptBin "tool" "echo tool-output"`,
    "pkgs/features/default.nix": `{ stdenv, lib, tool }:
stdenv.mkDerivation {
  name = "features";
  dontUnpack = true;
  dontBuild = true;
  greeting = "from the environment";
  flags = [ "-a" "-b" ];
  enabled = true;
  buildInputs = [ tool ];
  buildPhase = "exit 1";
  preInstall = "echo pre > pre-hook";
  installPhase = ''
    runHook preInstall
    mkdir -p $out
    echo "$greeting" > $out/greeting
    echo "$flags" > $out/flags
    echo "$enabled" > $out/enabled
    tool > $out/tool
    cp pre-hook $out/
  '';
  passthru.tests = "a passthru value";
  meta = throw "meta is never evaluated by a build";
}
`,
    "pkgs/final-attrs/default.nix": `{ stdenv }:
stdenv.mkDerivation (finalAttrs: {
  pname = "final-attrs";
  version = "3";
  dontUnpack = true;
  installPhase = "mkdir -p $out; echo \${finalAttrs.version} > $out/version";
})
`,
  });
  const [out, final] = await buildPackages(repo, ["features", "final-attrs"]);
  assert.ok(out && final);
  assert.match(final, /-final-attrs-3$/);
  assert.is(await readFile(nix.realPath(`${final}/version`), "utf8"), "3\n");
  const read = (f: string) => readFile(nix.realPath(`${out}/${f}`), "utf8");
  assert.is(await read("greeting"), "from the environment\n");
  assert.is(await read("flags"), "-a -b\n");
  assert.is(await read("enabled"), "1\n");
  assert.is(await read("tool"), "tool-output\n");
  assert.is(await read("pre-hook"), "pre\n");

  const passthru = await nix.run("nix-instantiate", [
    "--eval",
    frameworkPath,
    "--arg",
    "repo",
    `/. + ${nixString(repo)}`,
    "--arg",
    "busybox",
    `/. + ${nixString(nix.busyboxDir)}`,
    "-A",
    "features.tests",
  ]);
  assert.is(passthru, '"a passthru value"');
});

test("a failing build fails with the builder's message", async () => {
  const repo = join(scratch, "failing");
  await cp(join(projectRoot, "fixtures", "repos", "failing-build"), repo, { recursive: true });
  const err = await buildPackages(repo, ["fails"]).catch((e: unknown) => e);
  assert.instance(err, NixCommandError);
  assert.match((err as NixCommandError).stderr, /the build of fails went wrong on purpose/);
  assert.match(
    (err as NixCommandError).stderr,
    /builder for '\/nix\/store\/[0-9a-z]{32}-fails-1\.0\.drv' failed/,
  );
});

test("fetchurl: downloaded by Nix's builtin:fetchurl, checked by sha256 or an SRI hash; a wrong hash fails", async () => {
  const body = "fetched bytes\n";
  const server = createServer((req, res) =>
    req.url === "/data.txt" ? res.end(body) : res.writeHead(404).end(),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/data.txt`;
  try {
    const file = join(scratch, "data.txt");
    await writeFile(file, body);
    const nix32 = String(
      (await execa("nix-hash", ["--type", "sha256", "--flat", "--base32", file])).stdout,
    ).trim();
    const sri = `sha256-${createHash("sha256").update(body).digest("base64")}`;
    const pkg = (hash: string) => `{ runCommand, fetchurl }:
runCommand "copied" { src = fetchurl { url = "${url}"; ${hash}; }; } ''
  mkdir -p $out && cp $src $out/data.txt
''
`;
    const repo = await makeRepo("fetchurl", {
      "pkgs/by-sha256/default.nix": pkg(`sha256 = "${nix32}"`),
      "pkgs/by-sri/default.nix": pkg(`hash = "${sri}"`),
      "pkgs/wrong/default.nix": pkg(`sha256 = "${"0".repeat(52)}"`),
    });
    const [a, b] = await buildPackages(repo, ["by-sha256", "by-sri"]);
    assert.ok(a && b);
    assert.is(await readFile(nix.realPath(`${a}/data.txt`), "utf8"), body);
    assert.is(a, b, "the same file, whichever way its hash is written");
    const err = await buildPackages(repo, ["wrong"]).catch((e: unknown) => e);
    assert.instance(err, NixCommandError);
    assert.match((err as NixCommandError).stderr, "hash mismatch");
  } finally {
    server.close();
  }
});

test("the busybox store path depends on the binary only, not on the directory it came from", async () => {
  const other = join(scratch, "elsewhere", "bb");
  await mkdir(join(other, "bin"), { recursive: true });
  await cp(join(nix.busyboxDir, "bin", "busybox"), join(other, "bin", "busybox"));
  await symlink("busybox", join(other, "bin", "sh"));
  const pathOf = (dir: string) =>
    nix.run("nix-instantiate", [
      "--eval",
      "-E",
      `(import ${nixString(baseDir)} { busybox = /. + ${nixString(dir)}; }).busybox`,
    ]);
  const a = await pathOf(nix.busyboxDir);
  assert.match(a, /^"\/nix\/store\/[0-9a-z]{32}-busybox-static"$/);
  assert.is(await pathOf(other), a);
});

test("lib: the nixpkgs functions packages commonly use", async () => {
  const out = await nix.run("nix-instantiate", [
    "--eval",
    "--strict",
    "--json",
    "-E",
    `let lib = (import ${nixString(baseDir)} { busybox = /. + ${nixString(nix.busyboxDir)}; }).lib; in {
      optional = lib.optional true 1 ++ lib.optional false 2;
      optionals = lib.optionals true [ 1 2 ];
      optionalString = lib.optionalString false "x" + lib.optionalString true "y";
      concat = lib.concatStringsSep ", " [ "a" "b" ];
      binPath = lib.makeBinPath [ "/p" "/q" ];
      mit = lib.licenses.mit.spdxId;
      foldr = lib.foldr (x: acc: acc + x) "" [ "a" "b" "c" ];
      escaped = lib.escapeShellArg "it's";
      suffix = lib.removeSuffix ".tar.gz" "src.tar.gz";
    }`,
  ]);
  assert.equal(JSON.parse(out), {
    optional: [1],
    optionals: [1, 2],
    optionalString: "y",
    concat: "a, b",
    binPath: "/p/bin:/q/bin",
    mit: "MIT",
    foldr: "cba",
    escaped: "'it'\\''s'",
    suffix: "src",
  });
});

test("framework: org packages first, then base; own name means base's; `only` selects one", async () => {
  const repo = await makeRepo("scope", {
    // Shadows the base set's writeText for every other org package…
    "pkgs/writeText/default.nix": `{ writeText }: name: text: writeText name "org: \${text}"`,
    // …while it, asking for its own name, got the base's (no loop).
    "pkgs/note/default.nix": `{ writeText }: writeText "note" "hi"`,
  });
  const [note] = await buildPackages(repo, ["note"]);
  assert.ok(note);
  assert.is(await readFile(nix.realPath(note), "utf8"), "org: hi");

  const names = await nix.run("nix-instantiate", [
    "--eval",
    "--json",
    "-E",
    `builtins.attrNames (import ${nixString(frameworkPath)} { repo = /. + ${nixString(repo)}; busybox = /. + ${nixString(nix.busyboxDir)}; only = "note"; })`,
  ]);
  assert.equal(JSON.parse(names), ["note"]);
});

test.run();
