import { test } from "uvu";
import * as assert from "uvu/assert";
import { DerivationFormatError, parseDerivation, requiredFeatures } from "./derivation.js";

const drv =
  'Derive([("out","/nix/store/9krlzvny65gdc8s7kpb6lkx8cd02c25b-x","","")],' +
  '[("/nix/store/0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-b.drv",["out","dev"])],' +
  '["/nix/store/1bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-src"],"x86_64-linux","/bin/sh",["-c","echo \\"hi\\"\\n"],' +
  '[("name","x"),("requiredSystemFeatures","kvm  big-parallel"),("empty","")])';

test("parseDerivation reads every field, escapes included", () => {
  const d = parseDerivation(drv);
  assert.equal(d.outputs, { out: "/nix/store/9krlzvny65gdc8s7kpb6lkx8cd02c25b-x" });
  assert.equal(d.inputDrvs, { "/nix/store/0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-b.drv": ["out", "dev"] });
  assert.equal(d.inputSrcs, ["/nix/store/1bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-src"]);
  assert.is(d.system, "x86_64-linux");
  assert.equal(d.args, ["-c", 'echo "hi"\n']);
  assert.is(d.env.empty, "");
  assert.equal(requiredFeatures(d), ["kvm", "big-parallel"]);
});

test("parseDerivation refuses what is not a derivation, saying where", () => {
  for (const bad of ["", "Derive(", 'Derive(["x"])', `${drv}x`, drv.replace('"/bin/sh"', "[]")]) {
    assert.throws(
      () => parseDerivation(bad),
      (e: unknown) => e instanceof DerivationFormatError,
      bad,
    );
  }
});

test.run();
