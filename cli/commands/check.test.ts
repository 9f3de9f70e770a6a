// flox check against the pre-receive hook itself, and how flox build tells a package from a build number.
import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { flox, newCheckout } from "../../testing/init-cli.js";
import { fixtureDir, gitIn, hookScript, push } from "../../testing/repos.js";

let tmp: string;

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "flox-init-test-"));
});
test.after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

test("flox check prints what a push of the same tree gets from the pre-receive hook", async () => {
  for (const fixture of ["parse-error", "eval-error", "bad-name"]) {
    const dir = join(tmp, `gate-${fixture}`);
    await cp(fixtureDir(fixture), dir, { recursive: true });
    await gitIn(dir, "init", "-q", "-b", "main");
    const checked = await flox(dir, ["check"]);
    assert.is(checked.exitCode, 1, `${fixture}: ${checked.stdout}`);
    const lines = checked.stdout.trim().split("\n");
    assert.ok(lines.length > 0);

    const bare = join(tmp, `gate-${fixture}.git`);
    await execa("git", ["init", "-q", "--bare", bare]);
    await writeFile(join(bare, "hooks", "pre-receive"), hookScript("pre-receive"), { mode: 0o755 });
    await gitIn(dir, "add", "-A");
    await gitIn(dir, "commit", "-q", "-m", fixture);
    const pushed = await push(dir, bare, ["HEAD:refs/heads/main"]);
    assert.is(pushed.exitCode, 1);
    // The problem lines (not the "flox:" notes and the "push refused" summary).
    const gateLines = pushed.remote.filter((l) => /^[^:]+:\d+: /.test(l));
    assert.equal(lines, gateLines, `${fixture}: flox check and the hook agree`);
  }
});

test("flox build N still shows build N of the server; a name that is not a package is a usage error", async () => {
  const dir = await newCheckout(tmp, "build-args");
  const byId = await flox(dir, ["build", "17"]);
  assert.is(byId.exitCode, 1);
  assert.match(byId.stderr, "no token", "a number goes to the server, as before");
  const missing = await flox(dir, ["build", "nope"]);
  assert.is(missing.exitCode, 2);
  assert.match(missing.stderr, "no package nope in this work tree");
  const outside = await flox(tmp, ["check"]);
  assert.is(outside.exitCode, 1);
  assert.match(outside.stderr, "is not in a git checkout");
});

test("flox check judges what git add -A would commit: tracked files even when ignored, not untracked ignored ones", async () => {
  const dir = await newCheckout(tmp, "ignored");
  assert.is((await flox(dir, ["init", "--name", "kept", "--yes"])).exitCode, 0);
  await gitIn(dir, "add", "-A");
  await gitIn(dir, "commit", "-q", "-m", "kept");
  assert.is((await flox(dir, ["init", "--name", "left-out", "--yes"])).exitCode, 0);
  await writeFile(join(dir, ".gitignore"), "/.flox/\npkgs/kept/\npkgs/left-out/\n");
  const r = await flox(dir, ["check"]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, "ok: 1 package evaluates (kept)");
  assert.is(await gitIn(dir, "status", "--porcelain"), "M .gitignore", "the real index is untouched");
});

test.run();
