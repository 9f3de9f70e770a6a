// A nixpkgs-shaped base set written for current Nix (fixtures/modern-nixpkgs: lib/minver.nix says 2.18, and its lib
// uses builtins 2.8 lacks): the evaluator and the gate (flox check --base) take it on Nix >= 2.18, offline, and on
// an older Nix every package reports nixpkgs' own "requires Nix >= 2.18" instead of a crash.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { flox, newCheckout } from "../../testing/init-cli.js";
import { ensureBusyboxDir } from "../busybox-dir.js";
import { chosenNixDir, probeNix, versionAtLeast } from "../nix-install.js";
import { projectRoot } from "../project-root.js";
import { evaluatePackages, formatProblem } from "./index.js";

const base = join(projectRoot, "fixtures", "modern-nixpkgs");
let scratch = "";
let busyboxDir = "";
let modern = false;

const greeter = `{ lib, runCommand, hello }:
runCommand "greeter" { } (lib.pipe [ "ln -s" "\${hello}/bin/hello" "$out" ] [ (builtins.concatStringsSep " ") ])
`;

test.before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "flox-modern-base-"));
  busyboxDir = await ensureBusyboxDir(join(scratch, "busybox"));
  modern = versionAtLeast((await probeNix(chosenNixDir())).version, "2.18.0");
});

test.after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

test("the evaluator instantiates an org's package against the base set, or says which Nix it needs", async () => {
  const repo = join(scratch, "org");
  await mkdir(join(repo, "pkgs", "greeter"), { recursive: true });
  await writeFile(join(repo, "pkgs", "greeter", "default.nix"), greeter);
  const r = await evaluatePackages(
    { repoDir: repo, storeRoot: join(scratch, "store"), busyboxDir, basePath: base },
    ["greeter"],
    { instantiate: true },
  );
  if (modern) {
    assert.equal(r.problems, []);
    assert.equal(
      r.jobs.map((j) => j.name),
      ["greeter"],
    );
    assert.match(r.jobs[0]?.drvPath ?? "", /^\/nix\/store\/[0-9a-z]{32}-greeter\.drv$/);
  } else {
    assert.equal(r.jobs, []);
    assert.is(r.problems.length, 1, r.problems.map(formatProblem).join("\n"));
    assert.match(
      r.problems[0]?.message ?? "",
      /This version of Nixpkgs requires Nix >= 2\.18, please upgrade/,
    );
  }
});

test("flox check --base takes the base set on the chosen Nix", async () => {
  const checkout = await newCheckout(scratch, "acme");
  await mkdir(join(checkout, "pkgs", "greeter"), { recursive: true });
  await writeFile(join(checkout, "pkgs", "greeter", "default.nix"), greeter);
  const r = await flox(checkout, ["check", "--base", base]);
  if (modern) {
    assert.is(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  } else {
    assert.is(r.exitCode, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^pkgs\/greeter\/default\.nix:\d+: .*requires Nix >= 2\.18/m);
  }
});

test.run();
