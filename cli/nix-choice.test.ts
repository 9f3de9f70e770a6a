// --nix-bin / FLOX_NIX_BIN through the real CLI: the server and the builder say which Nix they run at start and
// refuse one older than 2.8 before doing anything; `flox check` runs its evaluation on the chosen Nix.
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chosenNixDir, probeNix } from "../lib/nix-install.js";
import { projectRoot } from "../lib/project-root.js";
import { flox, newCheckout } from "../testing/init-cli.js";
import { startTestServer } from "../testing/server.js";

const floxBin = join(projectRoot, "cli", "bin", "flox");
let tmp = "";
let oldNix = "";

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "flox-nix-choice-"));
  oldNix = join(tmp, "old-nix");
  await mkdir(oldNix);
  // Nix 2.3's version line: all flox asks of a Nix before refusing it.
  await writeFile(join(oldNix, "nix-store"), "#!/bin/sh\necho 'nix-store (Nix) 2.3.16'\n");
  await chmod(join(oldNix, "nix-store"), 0o755);
});

test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test("flox server --nix-bin with a Nix older than 2.8 exits 1 saying so, before it serves", async () => {
  const r = await execa(
    process.execPath,
    [floxBin, "server", "--data-dir", join(tmp, "data"), "--listen", "127.0.0.1:0", "--nix-bin", oldNix],
    { reject: false, stdin: "ignore", timeout: 60_000 },
  );
  assert.is(r.exitCode, 1, String(r.stderr));
  assert.is(String(r.stdout), "");
  assert.match(
    String(r.stderr),
    /^flox server: .*nix-store is Nix 2\.3\.16; flox needs Nix 2\.8\.0 or newer/m,
  );
});

test("FLOX_NIX_BIN with an old Nix stops flox builder the same way", async () => {
  const r = await execa(
    process.execPath,
    [floxBin, "builder", "--server", "http://127.0.0.1:1", "--token", "x", "--store", join(tmp, "b1")],
    {
      reject: false,
      stdin: "ignore",
      timeout: 60_000,
      env: { FLOX_NIX_BIN: oldNix },
    },
  );
  assert.is(r.exitCode, 2, "a usage error first: --systems is missing");
  const args = ["builder", "--server", "http://127.0.0.1:1", "--token", "x", "--store", join(tmp, "b1")];
  const r2 = await execa(process.execPath, [floxBin, ...args, "--systems", "x86_64-linux"], {
    reject: false,
    stdin: "ignore",
    timeout: 60_000,
    env: { FLOX_NIX_BIN: oldNix },
  });
  assert.is(r2.exitCode, 1, String(r2.stderr));
  assert.match(String(r2.stderr), /Nix 2\.3\.16; flox needs Nix 2\.8\.0 or newer/);
});

test("the server prints the Nix it runs at start: the chosen one", async () => {
  const nix = await probeNix(chosenNixDir());
  const srv = await startTestServer();
  try {
    assert.match(srv.stderr(), new RegExp(`flox server: using Nix ${nix.version.replace(/\./g, "\\.")}`));
  } finally {
    await srv.stop();
  }
});

test("flox check names its Nix and evaluates the checkout with it", async () => {
  const nix = await probeNix(chosenNixDir());
  const checkout = await newCheckout(tmp, "acme");
  await mkdir(join(checkout, "pkgs", "hi"), { recursive: true });
  await writeFile(join(checkout, "pkgs", "hi", "default.nix"), `{ writeText }:\nwriteText "hi" "hi"\n`);
  const r = await flox(checkout, ["check", ...(nix.dir ? ["--nix-bin", nix.dir] : [])]);
  assert.is(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, new RegExp(`flox check: using Nix ${nix.version.replace(/\./g, "\\.")}`));
  const bad = await flox(checkout, ["check", "--nix-bin", oldNix]);
  assert.is(bad.exitCode, 1);
  assert.match(bad.stderr, /flox needs Nix 2\.8\.0 or newer/);
});

test.run();
