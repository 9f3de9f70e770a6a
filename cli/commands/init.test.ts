// The newcomer's whole path against a real server and builder: flox init --org in an empty directory,
// flox init of a shell package, flox check, flox build here, a plain git push, built by the builder and
// in the channel at the very output path the local build made; then flox build --remote of an
// uncommitted change.
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { projectRoot } from "../../lib/project-root.js";
import type { BuilderProcess } from "../../testing/builder.js";
import { type FloxRun, latestEvaluationId, runFlox, waitForChannelAt } from "../../testing/ci-harness.js";
import { type CiWorld, startCiWorld } from "../../testing/ci-world.js";
import { Terminal } from "../../testing/init-cli.js";
import { gitIn } from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";

let srv: TestServer;
let builder: BuilderProcess;
let world: CiWorld | undefined;
let tmp: string;

test.before(async () => {
  world = await startCiWorld({ prefix: "flox-init-e2e-" });
  ({ srv, tmp, builder } = world);
});

test.after(async () => {
  await world?.stop();
});

/** The real CLI in `cwd`, with the admin token in the environment. */
const flox = (cwd: string, args: string[]): Promise<FloxRun> =>
  runFlox(srv.url, srv.adminToken, join(tmp, "config"), args, { cwd });

function ok(r: FloxRun, what: string): FloxRun {
  assert.is(r.exitCode, 0, `${what}\n${r.stdout}\n${r.stderr}`);
  return r;
}

test("init --org, init a package, check, build here, push: built by the builder, in the channel at the same path", async () => {
  const dir = join(tmp, "acme");
  await mkdir(dir);
  const cloned = ok(await flox(dir, ["init", "--org", "acme"]), "flox init --org acme");
  assert.match(
    cloned.stdout,
    `cloned ${srv.url}/acme/nixexprs.git into ${dir} (created the org acme) (a new, empty repo)`,
  );
  const readme = await readFile(join(dir, "README.md"), "utf8");
  assert.match(readme, `nix-channel --add ${srv.url}/channels/acme acme`);
  // The org is private by default, so the README says how Nix gets a token.
  assert.match(readme, "`netrc-file` in nix.conf");
  assert.match(await readFile(join(dir, ".gitignore"), "utf8"), "/.flox/");
  assert.is(
    await gitIn(dir, "remote", "get-url", "origin"),
    `${srv.url}/acme/nixexprs.git`,
    "no token in the URL",
  );
  assert.is(
    (await stat(join(dir, ".git", "config"))).mode & 0o777,
    0o600,
    "the token's file is the owner's only",
  );
  const again = await flox(dir, ["init", "--org", "acme"]);
  assert.is(again.exitCode, 1);
  assert.match(again.stderr, "is not empty");

  ok(await flox(dir, ["init", "--name", "hello", "--template", "shell", "--yes"]), "flox init --name hello");
  const checked = ok(await flox(dir, ["check"]), "flox check").stdout;
  assert.match(checked, "ok: 1 package evaluates (hello)");
  // The server was asked which base set it uses: the bootstrap set, the same as this flox's.
  assert.match(checked, "(checked with the server's base set (the bootstrap set, the same as this flox's))");
  const local = JSON.parse(ok(await flox(dir, ["build", "hello", "--json"]), "flox build hello").stdout) as {
    outputs: { out: string };
  };

  await gitIn(dir, "add", "-A");
  await gitIn(dir, "commit", "-q", "-m", "hello: new package");
  // Plain git: the clone keeps its credentials (http.<url>.extraHeader), as a token in a clone URL would.
  const pushed = await execa("git", ["push", "-q", "origin", "main"], { cwd: dir, reject: false });
  assert.is(pushed.exitCode, 0, String(pushed.stderr));
  assert.match(String(pushed.stderr), "checked refs/heads/main: 1 package evaluates");

  const evaluation = await latestEvaluationId(srv, "acme");
  await waitForChannelAt(srv, "acme", evaluation, () => builder.log());
  const channel = (await srv.api("GET", "/api/v1/channels/acme")).body.channel;
  assert.equal(channel.packages, { hello: local.outputs.out }, "the server built what flox build made here");
  const builds = (await srv.api("GET", "/api/v1/builds")).body.builds as {
    state: string;
    builder: string;
    drvPath: string;
  }[];
  const built = builds
    .filter((b) => b.drvPath.endsWith("-hello-0.1.0.drv"))
    .map((b) => ({ state: b.state, builder: b.builder }));
  assert.equal(built, [{ state: "succeeded", builder: "b1" }]);
});

test("flox build --remote builds the uncommitted work tree on the server's builder, leaving the branch alone", async () => {
  const dir = join(tmp, "acme");
  const head = await gitIn(dir, "rev-parse", "HEAD");
  await writeFile(
    join(dir, "pkgs", "hello", "src", "hello.sh"),
    '#!/bin/sh\necho "changed, not committed"\n',
  );
  const r = ok(await flox(dir, ["build", "hello", "--remote"]), "flox build hello --remote");
  assert.match(r.stdout, "built on the server: hello (branch flox-build/hello");
  assert.match(r.stderr, "CI passed");
  assert.is(await gitIn(dir, "rev-parse", "HEAD"), head, "HEAD did not move");
  assert.match(await gitIn(dir, "status", "--porcelain"), "M pkgs/hello/src/hello.sh");
  // The branch's channel moves once the publisher sees the green evaluation (at most a few seconds later).
  const channel = await waitFor(
    "channel acme/flox-build/hello",
    async () => {
      const c = (await srv.api("GET", `/api/v1/channels/acme/${encodeURIComponent("flox-build/hello")}`)).body
        .channel;
      return c?.packages?.hello ? c : undefined;
    },
    { timeoutMs: 30_000 },
  );
  const main = (await srv.api("GET", "/api/v1/channels/acme")).body.channel;
  assert.is.not(channel.packages.hello, main.packages.hello, "a different script, a different output");
});

test("a server on nixpkgs: flox check says to give --base, and with it checks as the server does", async () => {
  const fixtureBase = join(projectRoot, "fixtures", "init-base");
  const other = await startTestServer({ args: ["--base", fixtureBase] });
  try {
    const dir = join(tmp, "acme");
    const r = await runFloxIn(dir, other, ["check"]);
    assert.is(r.exitCode, 2, r.stderr);
    assert.match(r.stderr, `${other.url} evaluates packages against nixpkgs (init-base): give --base PATH`);
    const withBase = await runFloxIn(dir, other, ["check", "--base", fixtureBase, "--json"]);
    assert.is(withBase.exitCode, 0, withBase.stderr);
    assert.equal(JSON.parse(withBase.stdout).base, { source: "flag", basePath: fixtureBase });
    const info = (await other.api("GET", "/api/v1/base-set", undefined, null)).body;
    assert.equal(info, {
      baseSet: { kind: "nixpkgs", system: info.baseSet.system, name: "init-base", version: null },
    });
  } finally {
    await other.stop();
  }
});

test("a template the server's bootstrap set cannot build gets a warning naming the server", async () => {
  const dir = join(tmp, "c-on-bootstrap");
  await mkdir(join(dir, "pkgs"), { recursive: true });
  await gitIn(dir, "init", "-q", "-b", "main");
  const r = ok(await flox(dir, ["init", "--name", "calc", "--template", "c-make", "--yes"]), "init c-make");
  assert.match(
    r.stdout,
    `warning: the c-make template needs nixpkgs as the base set (flox server --base PATH), and ${srv.url} uses flox's bootstrap set, which cannot build it`,
  );
});

test("on a terminal, flox init --org goes on to ask for the first package", async () => {
  const term = new Terminal(`flox-init-e2e-${process.pid}`);
  try {
    const dir = join(tmp, "interactive");
    await mkdir(dir);
    await term.startFlox("org", dir, "init --org acme", {
      FLOX_SERVER: srv.url,
      FLOX_TOKEN: srv.adminToken,
      XDG_CONFIG_HOME: join(tmp, "config"),
    });
    assert.match(
      await term.waitFor("org", "Package name"),
      `cloned ${srv.url}/acme/nixexprs.git into ${dir}`,
    );
    await term.type("org", "tool");
    await term.keys("org", "Enter");
    for (const q of ["Where are its sources?", "Template", "Version", "One-line description", "License"]) {
      await term.waitFor("org", q);
      await term.keys("org", "Enter"); // every default
    }
    assert.match(await term.waitFor("org", /flox exited \d+/), "flox exited 0");
    assert.match(await readFile(join(dir, "pkgs", "tool", "default.nix"), "utf8"), "(template: shell)");
    // The clone has the packages pushed before, and the new one beside them.
    assert.equal((await readdir(join(dir, "pkgs"))).sort(), ["hello", "tool"]);
  } finally {
    await term.stop();
  }
});

async function runFloxIn(cwd: string, server: TestServer, args: string[]): Promise<FloxRun> {
  const before = process.cwd();
  process.chdir(cwd);
  try {
    return await runFlox(server.url, server.adminToken, join(tmp, "config"), args);
  } finally {
    process.chdir(before);
  }
}

test.run();
