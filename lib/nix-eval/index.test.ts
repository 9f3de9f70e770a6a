import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ensureBusyboxDir } from "../busybox-dir.js";
import { chosenNixDir, probeNix, versionAtLeast } from "../nix-install.js";
import { projectRoot } from "../project-root.js";
import { type EvalOptions, evaluatePackages, formatProblem, parseNixFiles } from "./index.js";

const fixtures = join(projectRoot, "fixtures", "repos");

let scratch: string;
let busyboxDir: string;

test.before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "flox-eval-test-"));
  busyboxDir = await ensureBusyboxDir(join(scratch, "busybox"));
});

test.after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function options(repoDir: string, extra: Partial<EvalOptions> = {}): EvalOptions {
  return { repoDir, storeRoot: join(scratch, "store"), busyboxDir, ...extra };
}

async function packagesOf(repoDir: string): Promise<string[]> {
  return (await readdir(join(repoDir, "pkgs"))).sort();
}

/** A repo made here: `files` maps repo paths to contents. */
async function makeRepo(name: string, files: Record<string, string>): Promise<string> {
  const repo = join(scratch, name);
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(repo, path, ".."), { recursive: true });
    await writeFile(join(repo, path), text);
  }
  return repo;
}

const problemsOf = (r: { problems: Parameters<typeof formatProblem>[0][] }) => r.problems.map(formatProblem);

test("good: every package is a job with its drvPath, and the gate writes nothing", async () => {
  const repo = join(fixtures, "good");
  const storeRoot = join(scratch, "gate-store");
  const r = await evaluatePackages(options(repo, { storeRoot }), await packagesOf(repo), {
    instantiate: false,
  });
  assert.equal(r.problems, []);
  assert.equal(
    r.jobs.map((j) => [j.attr, j.name]),
    [
      ["greeting", "greeting"],
      ["hello", "hello"],
      ["hello-lib", "hello-lib"],
      ["shout", "shout-1.0"],
      ["toolbox", "toolbox"],
      ["wordcount", "wordcount-1.2.0"],
    ],
  );
  for (const job of r.jobs) {
    assert.is(job.system, "x86_64-linux");
    assert.match(
      job.drvPath,
      new RegExp(`^/nix/store/[0-9a-z]{32}-${job.name.replace(/\./g, "\\.")}\\.drv$`),
    );
    assert.equal(Object.keys(job.outputs), ["out"]);
    assert.match(
      job.outputs.out ?? "",
      new RegExp(`^/nix/store/[0-9a-z]{32}-${job.name.replace(/\./g, "\\.")}$`),
    );
  }
  const exists = await stat(storeRoot).then(
    () => true,
    () => false,
  );
  assert.not.ok(exists, "gate mode created the store");
});

test("instantiate mode writes the same .drv files into the chroot store", async () => {
  const repo = join(fixtures, "good");
  const names = await packagesOf(repo);
  const gate = await evaluatePackages(options(repo), names, { instantiate: false });
  const storeRoot = join(scratch, "eval-store");
  const evaluated = await evaluatePackages(options(repo, { storeRoot }), names, { instantiate: true });
  assert.equal(evaluated, gate);
  for (const job of evaluated.jobs) {
    const drv = await readFile(join(storeRoot, job.drvPath), "utf8");
    assert.ok(drv.startsWith("Derive("), job.drvPath);
    assert.ok(drv.includes(job.outputs.out ?? "?"));
  }
  // greeting's derivation takes hello-lib's output: an org package depending on another.
  const greeting = evaluated.jobs.find((j) => j.attr === "greeting");
  const helloLib = evaluated.jobs.find((j) => j.attr === "hello-lib");
  assert.ok(greeting && helloLib);
  assert.ok((await readFile(join(storeRoot, greeting.drvPath), "utf8")).includes(helloLib.drvPath));
});

test("dep-chain: a → b → c, each drv refers to the next", async () => {
  const repo = join(fixtures, "dep-chain");
  const storeRoot = join(scratch, "chain-store");
  const r = await evaluatePackages(options(repo, { storeRoot }), ["a", "b", "c"], { instantiate: true });
  assert.equal(r.problems, []);
  const [a, b, c] = r.jobs;
  assert.ok(a && b && c);
  assert.ok((await readFile(join(storeRoot, a.drvPath), "utf8")).includes(b.drvPath));
  assert.ok((await readFile(join(storeRoot, b.drvPath), "utf8")).includes(c.drvPath));
});

test("failing-build: evaluates fine (it fails only when built)", async () => {
  const repo = join(fixtures, "failing-build");
  const r = await evaluatePackages(options(repo), await packagesOf(repo), { instantiate: false });
  assert.equal(r.problems, []);
  assert.equal(
    r.jobs.map((j) => j.name),
    ["fails-1.0", "hello"],
  );
});

test("eval-error: every failing package is reported at its file and line, the good one is a job", async () => {
  const repo = join(fixtures, "eval-error");
  const r = await evaluatePackages(options(repo), await packagesOf(repo), { instantiate: false });
  assert.equal(
    r.jobs.map((j) => j.attr),
    ["fine"],
  );
  assert.equal(problemsOf(r), [
    "pkgs/missing-arg/default.nix:1: called without required argument 'frobnicate' (no package 'frobnicate' in pkgs/ or in the base set: declare it in pkgs/frobnicate/ or check the spelling; available from base: busybox, fetchurl, lib, runCommand, runCommandLocal, runtimeShell, stdenv, symlinkJoin, system, writeScript, writeScriptBin, writeShellScript, writeShellScriptBin, writeText, writeTextFile)",
    "pkgs/not-a-drv/default.nix:1: evaluates to an attribute set, not a derivation (a package file is a function of its dependencies returning one package, e.g. { stdenv }: stdenv.mkDerivation { … })",
    "pkgs/undefined-var/default.nix:9: undefined variable 'instalPhaseExtra' ('instalPhaseExtra' is not defined here: if it is a package, add it to the function's arguments; otherwise check the spelling)",
  ]);
});

test("a missing argument is reported on the line that declares it, with close names", async () => {
  const repo = await makeRepo("misspelt", {
    "pkgs/tool/default.nix": `{
  writeShellScriptBin,
  wirteText,
}:
writeShellScriptBin "tool" "echo \${wirteText}"
`,
  });
  const r = await evaluatePackages(options(repo), ["tool"], { instantiate: false });
  assert.is(r.problems.length, 1);
  const [p] = r.problems;
  assert.is(p?.path, "pkgs/tool/default.nix");
  assert.is(p?.line, 3);
  assert.match(p?.hint ?? "", /did you mean writeText\?/);
});

test("parse-error: parseNixFiles reports every bad file with its line", async () => {
  const repo = join(fixtures, "parse-error");
  const files = ["lib/strings.nix", "pkgs/broken/default.nix", "pkgs/fine/default.nix"];
  const problems = await parseNixFiles(repo, files);
  assert.equal(problems.map(formatProblem), [
    "lib/strings.nix:4: syntax error, unexpected ';' (fix the Nix syntax: the parser stops where it noticed, the mistake is often just before)",
    "pkgs/broken/default.nix:5: syntax error, unexpected IN, expecting ';' (fix the Nix syntax: the parser stops where it noticed, the mistake is often just before)",
  ]);
  assert.equal(await parseNixFiles(repo, ["pkgs/fine/default.nix"]), []);
  // The evaluator sees the same file and line.
  const r = await evaluatePackages(options(repo), ["broken", "fine"], { instantiate: false });
  assert.equal(
    r.problems.map((p) => `${p.path}:${p.line}`),
    ["pkgs/broken/default.nix:5"],
  );
  assert.equal(
    r.jobs.map((j) => j.attr),
    ["fine"],
  );
});

test("parseNixFiles: a good batch is one call; bad files anywhere in a batch are all found", async () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 40; i++) files[`lib/f${String(i).padStart(2, "0")}.nix`] = `{ x${i} = ${i}; }\n`;
  files["lib/f05.nix"] = "{\n  a = ;\n}\n";
  files["lib/f30.nix"] = "let\n\n\n  b = 1;\nin\nb +\n";
  const repo = await makeRepo("many-files", files);
  const problems = await parseNixFiles(repo, Object.keys(files).sort());
  assert.equal(
    problems.map((p) => `${p.path}:${p.line}`),
    ["lib/f05.nix:2", "lib/f30.nix:6"],
  );
});

test("parseNixFiles: a symlink out of the repo is refused, not read", async () => {
  const repo = await makeRepo("escape-parse", { "pkgs/a/default.nix": "{ }: 1\n" });
  await symlink("/etc/passwd", join(repo, "pkgs", "a", "evil.nix"));
  const problems = await parseNixFiles(repo, ["pkgs/a/default.nix", "pkgs/a/evil.nix"]);
  assert.equal(problems.map(formatProblem), [
    "pkgs/a/evil.nix:1: symlink points outside the repository (commit the file itself instead of a link to it)",
  ]);
});

test("layout-level fixtures: missing default.nix and invalid names are problems, not crashes", async () => {
  const missing = join(fixtures, "missing-default");
  const r1 = await evaluatePackages(options(missing), await packagesOf(missing), { instantiate: false });
  assert.equal(
    r1.problems.map((p) => `${p.path}:${p.line}: ${p.message}`),
    ["pkgs/foo/default.nix:1: missing: every package directory needs a default.nix"],
  );
  const badName = join(fixtures, "bad-name");
  const r2 = await evaluatePackages(options(badName), await packagesOf(badName), { instantiate: false });
  assert.equal(
    r2.problems.map((p) => `${p.path}:${p.line}: ${p.message}`),
    ["pkgs/-foo:1: not a valid package name", "pkgs/foo bar:1: not a valid package name"],
  );
  assert.equal(
    r2.jobs.map((j) => j.attr),
    ["hello"],
  );
});

test("restrict-eval: reading outside the repo, through a symlink, <nixpkgs> and fetching are refused", async () => {
  const repo = await makeRepo("hostile", {
    "pkgs/passwd/default.nix": `{ writeText }:
writeText "stolen"
  (builtins.readFile /etc/passwd)
`,
    "pkgs/linked/default.nix": `{ writeText }:
writeText "stolen" (builtins.readFile ./data)
`,
    "pkgs/lookup/default.nix": `{ writeText }:
let pkgs = import <nixpkgs> { }; in
writeText "x" pkgs.hello.name
`,
    "pkgs/fetch/default.nix": `{ writeText }:
writeText "x" (builtins.readFile (builtins.fetchurl "http://127.0.0.1:9/secret"))
`,
    "pkgs/env/default.nix": `{ writeText }:
writeText "env-\${builtins.getEnv "HOME"}" "x"
`,
  });
  await symlink("/etc/passwd", join(repo, "pkgs", "linked", "data"));
  const r = await evaluatePackages(options(repo), ["env", "fetch", "linked", "lookup", "passwd"], {
    instantiate: false,
  });
  // getEnv reads as empty under restrict-eval: nothing of the server's environment leaks.
  assert.equal(
    r.jobs.map((j) => j.name),
    ["env-"],
  );
  const byPath = Object.fromEntries(r.problems.map((p) => [p.path, p]));
  assert.is(byPath["pkgs/passwd/default.nix"]?.line, 3);
  // Nix 2.26 checks each directory on the way (after resolving symlinks), so it names the first one outside the
  // allowed paths; 2.8 names the file, and a symlink's target as a "canonical path" (checked: 2.8.0, 2.26.3).
  const modern = versionAtLeast((await probeNix(chosenNixDir())).version, "2.26.0");
  const refused = modern ? "/etc" : "/etc/passwd";
  assert.is(
    byPath["pkgs/passwd/default.nix"]?.message,
    `access to absolute path '${refused}' is forbidden in restricted mode`,
  );
  assert.match(byPath["pkgs/passwd/default.nix"]?.hint ?? "", /only files of this repository/);
  assert.match(
    byPath["pkgs/linked/default.nix"]?.message ?? "",
    modern
      ? /access to absolute path '\/etc' is forbidden/
      : /access to canonical path '\/etc\/passwd' is forbidden/,
  );
  assert.is(byPath["pkgs/linked/default.nix"]?.line, 2);
  assert.match(byPath["pkgs/lookup/default.nix"]?.message ?? "", /<nixpkgs>|nixpkgs/);
  assert.is(byPath["pkgs/lookup/default.nix"]?.line, 2);
  assert.match(byPath["pkgs/fetch/default.nix"]?.message ?? "", /not allowed in restricted mode|forbidden/);
  assert.is(r.problems.length, 4, problemsOf(r).join("\n"));
  for (const p of r.problems) assert.not.match(p.message, /root:x:0:0/);
});

test("an evaluation that never ends is killed after timeoutMs; the other packages still evaluate", async () => {
  const repo = await makeRepo("endless", {
    "pkgs/ok/default.nix": `{ writeText }: writeText "ok" "ok"\n`,
    // Exponential, not deep: Nix's stack-overflow guard never fires, it just runs.
    "pkgs/endless/default.nix": `{ writeText }:
let f = d: if d == 0 then 1 else f (d - 1) + f (d - 1); in
writeText "endless" (toString (f 64))
`,
  });
  const started = Date.now();
  const r = await evaluatePackages(options(repo, { timeoutMs: 1500 }), ["endless", "ok"], {
    instantiate: false,
  });
  const took = Date.now() - started;
  assert.equal(problemsOf(r), [
    "pkgs/endless/default.nix:1: evaluation timed out after 2s (look for unbounded recursion or a computation that never ends)",
  ]);
  assert.equal(
    r.jobs.map((j) => j.attr),
    ["ok"],
  );
  assert.ok(took < 15_000, `took ${took} ms`);
});

test("many packages: when some fail, every failure is reported once and every other package is a job", async () => {
  const files: Record<string, string> = {};
  const names: string[] = [];
  for (let i = 0; i < 60; i++) {
    const name = `p${String(i).padStart(2, "0")}`;
    names.push(name);
    files[`pkgs/${name}/default.nix`] = `{ writeText }: writeText "${name}" "${i}"\n`;
  }
  files["pkgs/p07/default.nix"] = `{ writeText }:\nwriteText "p07" (throw "p07 is broken")\n`;
  files["pkgs/p42/default.nix"] = `{ writeText }:\n\nwriteText "p42" missingThing.name\n`;
  // p43 depends on the broken p42: reported at p42's line, once.
  files["pkgs/p43/default.nix"] = `{ writeText, p42 }: writeText "p43" "\${p42}"\n`;
  const repo = await makeRepo("many", files);
  const r = await evaluatePackages(options(repo), names, { instantiate: false });
  assert.equal(
    r.problems.map((p) => `${p.path}:${p.line}: ${p.message}`),
    ["pkgs/p07/default.nix:2: p07 is broken", "pkgs/p42/default.nix:3: undefined variable 'missingThing'"],
  );
  assert.is(r.jobs.length, 57);

  const fine = names.filter((n) => !["p07", "p42", "p43"].includes(n));
  const ok = await evaluatePackages(options(repo), fine, { instantiate: false });
  assert.is(ok.jobs.length, 57);
  assert.equal(ok.jobs, r.jobs);
});

test("basePath: another base set (nixpkgs with --base) supplies the arguments the org does not", async () => {
  // A stand-in for nixpkgs: a function of { system } returning a package set with `hello`.
  const fakeNixpkgs = await makeRepo("fake-nixpkgs", {
    "default.nix": `{ system ? "x86_64-linux", ... }:
let base = import ${join(projectRoot, "lib", "nix", "base")} { busybox = ${busyboxDir}; inherit system; }; in
base // { hello = base.writeShellScriptBin "hello" "echo from nixpkgs"; }
`,
  });
  const repo = await makeRepo("on-nixpkgs", {
    "pkgs/greeter/default.nix": `{ runCommand, hello }: runCommand "greeter" { } "ln -s \${hello}/bin/hello $out"\n`,
  });
  const r = await evaluatePackages(options(repo, { basePath: fakeNixpkgs }), ["greeter"], {
    instantiate: false,
  });
  assert.equal(r.problems, []);
  assert.equal(
    r.jobs.map((j) => j.name),
    ["greeter"],
  );
  const missing = await makeRepo("on-nixpkgs-missing", {
    "pkgs/x/default.nix": `{ writeText, helo }: writeText "x" "\${helo}"\n`,
  });
  const m = await evaluatePackages(options(missing, { basePath: fakeNixpkgs }), ["x"], {
    instantiate: false,
  });
  assert.is(m.problems.length, 1);
  // nixpkgs is too big to list: only close names.
  assert.match(m.problems[0]?.hint ?? "", /did you mean hello\?$/);
});

test("a copy of the repo elsewhere gives the same drvPaths (sources are hashed by content)", async () => {
  const copy = join(scratch, "elsewhere", "good");
  await cp(join(fixtures, "good"), copy, { recursive: true });
  const names = await packagesOf(copy);
  const a = await evaluatePackages(options(join(fixtures, "good")), names, { instantiate: false });
  const b = await evaluatePackages(options(copy), names, { instantiate: false });
  assert.equal(b.jobs, a.jobs);
});

test.run();
