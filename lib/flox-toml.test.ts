import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseFloxToml } from "./flox-toml.js";

const pkgs = ["hello", "tests"];

test("no settings, a description, and a gate", () => {
  assert.equal(parseFloxToml("", pkgs).settings, { repo: { description: null }, channel: { gate: null } });
  const r = parseFloxToml(
    '[repo]\ndescription = "x"\n\n[channel]\ngate = ["tests", "hello", "tests"]\n',
    pkgs,
  );
  assert.equal(r.problems, []);
  assert.equal(r.settings, { repo: { description: "x" }, channel: { gate: ["hello", "tests"] } });
});

test("every problem is reported with its line, and the default policy stays", () => {
  const r = parseFloxToml('[channel]\nspeed = 3\ngate = ["hello", "nope"]\n[extra]\n', pkgs);
  assert.equal(
    r.problems.map((p) => [p.line, p.message]),
    [
      [4, 'unknown setting "extra"'],
      [2, 'unknown setting "channel.speed"'],
      [3, 'channel.gate names "nope", which is not a package of this repo'],
    ],
  );
  assert.is(r.settings.channel.gate, null);
  assert.equal(
    parseFloxToml("[channel]\ngate = []\n", pkgs).problems.map((p) => p.message),
    ["channel.gate must be a non-empty list of package names"],
  );
});

test("TOML syntax errors name their line", () => {
  const r = parseFloxToml("[channel]\ngate = = 1\n[repo]\n", pkgs);
  assert.is(r.problems.length, 1);
  assert.is(r.problems[0]?.line, 2);
  assert.match(r.problems[0]?.message ?? "", /^not valid TOML: /);
});

test.run();
