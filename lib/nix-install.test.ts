// The Nix flox runs: the version check against real binaries, and the differences asked of it (path-info --json,
// dump-db), read from the host's Nix 2.8 and the prefix's Nix 2.26 side by side when both are here.
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createNixTestStore } from "../testing/nix-store.js";
import { availableNixes, modernNixDir } from "../testing/nix-versions.js";
import {
  chosenNixDir,
  featuresOf,
  NixNotFoundError,
  NixTooOldError,
  parsePathInfoJson,
  probeNix,
  versionAtLeast,
} from "./nix-install.js";

test("versions compare numerically; features follow the version", () => {
  assert.ok(versionAtLeast("2.26.3", "2.8.0"));
  assert.ok(versionAtLeast("2.8.0", "2.8.0"));
  assert.not.ok(versionAtLeast("2.7.9", "2.8.0"));
  assert.not.ok(versionAtLeast("2.3.16", "2.8.0"));
  assert.ok(versionAtLeast("2.18.0pre20240101_abc", "2.18.0"));
  assert.is(featuresOf("2.8.0").pathInfoJsonByPath, false);
  assert.is(featuresOf("2.26.3").pathInfoJsonByPath, true);
  assert.equal(featuresOf("2.8.0").configShowCommand, ["show-config"]);
  assert.equal(featuresOf("2.26.3").configShowCommand, ["config", "show"]);
  assert.is(featuresOf("2.8.0").daemonForceUntrusted, false);
  assert.is(featuresOf("2.26.3").daemonForceUntrusted, true);
});

test("the chosen Nix (FLOX_TEST_NIX / FLOX_NIX_BIN, else PATH) is probed and is at least 2.8", async () => {
  const nix = await probeNix(chosenNixDir());
  assert.ok(versionAtLeast(nix.version, "2.8.0"), nix.version);
  const wanted = process.env.FLOX_TEST_NIX;
  if (wanted)
    assert.ok(nix.version.startsWith(`${wanted}.`), `FLOX_TEST_NIX=${wanted} but ${nix.describe()}`);
});

test("a Nix older than 2.8 is refused saying what to do; a directory without Nix is not found", async () => {
  const dir = await mkdtemp(join(tmpdir(), "flox-old-nix-"));
  try {
    // A stand-in for an old install: Nix 2.3's own version line.
    await writeFile(join(dir, "nix-store"), "#!/bin/sh\necho 'nix-store (Nix) 2.3.16'\n");
    await chmod(join(dir, "nix-store"), 0o755);
    const old = await probeNix(dir).catch((e: unknown) => e);
    assert.instance(old, NixTooOldError);
    assert.match((old as Error).message, /is Nix 2\.3\.16; flox needs Nix 2\.8\.0 or newer/);
    assert.match((old as Error).message, /--nix-bin/);
    const none = await probeNix(join(dir, "missing")).catch((e: unknown) => e);
    assert.instance(none, NixNotFoundError);
    assert.match((none as Error).message, /install Nix .* or point --nix-bin/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("path-info --json of each Nix reads the same; dump-db records are the same on each", async () => {
  const store = await createNixTestStore();
  try {
    const out = await store.buildOne(`run "hello" "mkdir $out; echo hi > $out/x"`);
    const seen: string[] = [];
    for (const dir of await availableNixes()) {
      const nix = await probeNix(dir);
      const env = { ...store.env, PATH: nix.path(store.env.PATH) };
      const json = await store.run(
        nix.bin("nix"),
        [...nix.features.newCliFlags, "path-info", "--json", out],
        {
          env,
        },
      );
      assert.is(json.trimStart().startsWith("{"), nix.features.pathInfoJsonByPath, nix.describe());
      const [info] = parsePathInfoJson(json);
      assert.is(info?.path, out);
      assert.match(info?.narHash ?? "", /^sha256[-:]/);
      assert.ok((info?.narSize ?? 0) > 0);
      const db = await store.run(nix.bin("nix-store"), ["--dump-db", out], { env });
      seen.push(`${info?.narSize} ${db}`);
    }
    assert.ok(
      seen.every((s) => s === seen[0]),
      seen.join("\n---\n"),
    );
  } finally {
    await store.cleanup();
  }
});

test("the 2.26 prefix's wrappers are complete, when it is installed", async () => {
  if (!(await availableNixes()).includes(modernNixDir)) return;
  const nix = await probeNix(modernNixDir);
  for (const name of [
    "nix",
    "nix-build",
    "nix-channel",
    "nix-daemon",
    "nix-env",
    "nix-instantiate",
    "nix-store",
  ]) {
    const r = await execa(nix.bin(name), ["--version"], { reject: false });
    assert.match(String(r.stdout), /\(Nix\) 2\.26\./, `${name}: ${r.stderr}`);
  }
});

test.run();
