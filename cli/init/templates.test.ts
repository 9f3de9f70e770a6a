// flox init's templates without a terminal (flags and --yes): each checked by the real push gate (flox check);
// the ones the bootstrap base set can build built offline in the checkout's chroot store (flox build), and run.
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { build, fixtureBase, flox, newCheckout, ok, runStored } from "../../testing/init-cli.js";

let tmp: string;

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "flox-init-test-"));
});
test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test("every template, from flags alone, writes a commented callPackage file that passes flox check", async () => {
  const boot = await newCheckout(tmp, "boot");
  for (const t of ["shell", "data", "binary", "c-make"]) {
    const r = ok(await flox(boot, ["init", "--name", `t-${t}`, "--template", t, "--yes"]), `init ${t}`);
    assert.match(r.stdout, `created pkgs/t-${t} from the ${t} template`);
  }
  // --version reaches the package, not flox's own --version.
  ok(
    await flox(boot, [
      "init",
      "--name",
      "versioned",
      "--version",
      "2.5.1",
      "--description",
      "A tool",
      "--license",
      "asl20",
      "--yes",
    ]),
    "init versioned",
  );
  const versioned = await readFile(join(boot, "pkgs", "versioned", "default.nix"), "utf8");
  assert.match(versioned, 'version = "2.5.1";');
  assert.match(versioned, 'description = "A tool";');
  assert.match(versioned, "license = lib.licenses.asl20;");

  const shell = await readFile(join(boot, "pkgs", "t-shell", "default.nix"), "utf8");
  assert.match(shell, "New to Nix? A package file is a *function*");
  assert.match(shell, /^\{ lib, stdenv \}:$/m);
  assert.match(shell, 'pname = "t-shell";');
  assert.match(shell, "src = ./src;");
  assert.ok(
    ((await stat(join(boot, "pkgs", "t-shell", "src", "t-shell.sh"))).mode & 0o100) !== 0,
    "the example script is executable",
  );
  const cMake = await readFile(join(boot, "pkgs", "t-c-make", "default.nix"), "utf8");
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a Nix antiquotation, not a JS placeholder
  assert.match(cMake, 'makeFlags = [ "PREFIX=${placeholder "out"}" ];');
  assert.match(
    await readFile(join(boot, "pkgs", "t-c-make", "src", "Makefile"), "utf8"),
    /^install: t-c-make$/m,
  );
  assert.match(await readFile(join(boot, ".gitignore"), "utf8"), /^\/\.flox\/$/m);

  const checked = ok(await flox(boot, ["check"]), "flox check (bootstrap base)");
  assert.match(checked.stdout, "ok: 5 packages evaluate (t-binary, t-c-make, t-data, t-shell, versioned)");

  // python and node need nixpkgs' builders: the bootstrap set refuses them with the gate's message,
  // a base that has them (the stand-in) accepts them.
  const nixpkgsOnly = await newCheckout(tmp, "nixpkgs-only");
  for (const t of ["python", "node"]) {
    const r = ok(
      await flox(nixpkgsOnly, ["init", "--name", `t-${t}`, "--template", t, "--yes"]),
      `init ${t}`,
    );
    assert.match(r.stdout, "needs nixpkgs as the base set");
  }
  const python = await readFile(join(nixpkgsOnly, "pkgs", "t-python", "default.nix"), "utf8");
  assert.match(python, "python3Packages.buildPythonApplication {");
  assert.match(
    await readFile(join(nixpkgsOnly, "pkgs", "t-python", "src", "pyproject.toml"), "utf8"),
    't-python = "t_python.main:main"',
  );
  assert.match(
    await readFile(join(nixpkgsOnly, "pkgs", "t-node", "default.nix"), "utf8"),
    "buildNpmPackage {",
  );
  const refused = await flox(nixpkgsOnly, ["check"]);
  assert.is(refused.exitCode, 1, refused.stdout);
  assert.match(refused.stdout, /^pkgs\/t-python\/default\.nix:\d+: .*python3Packages/m);
  assert.match(refused.stdout, /^pkgs\/t-node\/default\.nix:\d+: .*buildNpmPackage/m);
  assert.match(refused.stderr, "a push of this work tree would be refused");
  const accepted = ok(
    await flox(nixpkgsOnly, ["check", "--base", fixtureBase, "--json"]),
    "flox check --base",
  );
  const result = JSON.parse(accepted.stdout) as { ok: boolean; jobs: { attr: string; name: string }[] };
  assert.equal(result.jobs.map((j) => j.name).sort(), ["t-node-0.1.0", "t-python-0.1.0"]);
  // Every file parses as Nix (the gate parsed them too; this is Nix's own parser on its own).
  for (const f of ["t-python", "t-node"])
    await execa("nix-instantiate", ["--parse", join(nixpkgsOnly, "pkgs", f, "default.nix")]);
});

test("shell, data and binary packages build offline here and run", async () => {
  const dir = await newCheckout(tmp, "builds");
  ok(await flox(dir, ["init", "--name", "hi", "--template", "shell", "--yes"]), "init hi");
  ok(await flox(dir, ["init", "--name", "assets", "--template", "data", "--yes"]), "init assets");
  // The prebuilt binary: Debian's static busybox, under the package's name.
  await mkdir(join(dir, "pkgs", "busybox", "src"), { recursive: true });
  await copyFile("/bin/busybox", join(dir, "pkgs", "busybox", "src", "busybox"));
  await chmod(join(dir, "pkgs", "busybox", "src", "busybox"), 0o755);
  const bin = ok(
    await flox(dir, ["init", "--name", "busybox", "--src", "pkgs/busybox/src", "--yes", "--json"]),
    "init busybox",
  );
  assert.is(JSON.parse(bin.stdout).package.template, "binary", "an ELF file proposes the binary template");

  const hi = await build(dir, "hi");
  assert.is(await runStored(hi.storeRoot, `${hi.out}/bin/hi`, ["there"]), "Hello from hi there");
  const assets = await build(dir, "assets");
  assert.match(
    await readFile(join(assets.storeRoot, assets.out, "share", "assets", "README.txt"), "utf8"),
    "assets: assets, packaged with flox",
  );
  const bb = await build(dir, "busybox");
  assert.is(await runStored(bb.storeRoot, `${bb.out}/bin/busybox`, ["echo", "wrapped"]), "wrapped");
  assert.is(
    await runStored(bb.storeRoot, `${bb.out}/bin/busybox`, ["sh", "-c", "echo $BUSYBOX_HOME"]),
    bb.out,
  );

  // The build log is shown (stderr), and a failing build says so with exit 1.
  await rename(join(dir, "pkgs", "hi", "src", "hi.sh"), join(dir, "pkgs", "hi", "src", "renamed.sh"));
  const broken = await flox(dir, ["build", "hi"]);
  assert.is(broken.exitCode, 1);
  assert.match(broken.stderr, "running installPhase");
  assert.match(broken.stderr, "hi.sh");
  assert.match(broken.stderr, "the build of hi failed");
});

test.run();
