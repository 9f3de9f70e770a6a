/**
 * A repo of 500 packages through the real server: the gate must accept it whole, and when one
 * package among the 500 is broken it must name exactly that one. (Its time is measured by
 * bench/gate-vs-instantiate.ts, never asserted here.)
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commitAll, ensureCompiledHooks, gitIn, push } from "../testing/repos.js";
import { startTestServer, type TestServer } from "../testing/server.js";

const count = 500;
let srv: TestServer;
let tmp = "";

const pkgName = (i: number) => `p${String(i).padStart(3, "0")}`;

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-push-many-"));
  srv = await startTestServer();
  const org = await srv.api("POST", "/api/v1/orgs", { name: "many" });
  assert.is(org.status, 201, JSON.stringify(org.body));
});

test.after(async () => {
  await srv?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test(`a repo with ${count} packages is accepted, then one broken package among them is named`, async () => {
  const work = join(tmp, "work");
  for (let i = 0; i < count; i++) {
    // Every tenth package depends on its neighbour, so resolution between org packages is exercised too.
    const dep = i % 10 === 9 ? pkgName(i - 1) : null;
    const args = dep ? `{ writeShellScriptBin, ${dep} }` : "{ writeShellScriptBin }";
    const body = dep ? `"\${${dep}}/bin/${dep}; echo ${pkgName(i)}"` : `"echo ${pkgName(i)}"`;
    await mkdir(join(work, "pkgs", pkgName(i)), { recursive: true });
    await writeFile(
      join(work, "pkgs", pkgName(i), "default.nix"),
      `${args}:\nwriteShellScriptBin "${pkgName(i)}" ${body}\n`,
    );
  }
  await gitIn(work, "init", "-q", "-b", "main");
  await commitAll(work, `${count} packages`);
  const url = srv.gitUrl("many", srv.adminToken);

  const ok = await push(work, url, ["HEAD:refs/heads/main"]);
  assert.is(ok.exitCode, 0, ok.stderr);
  assert.is(ok.remote[0], `checked refs/heads/main: ${count} packages evaluate`);

  await writeFile(
    join(work, "pkgs", "p250", "default.nix"),
    "{ writeShellScriptBin }:\n\nwriteShellScriptBin 42\n",
  );
  const before = await gitIn(work, "rev-parse", "HEAD");
  await commitAll(work, "break p250");
  const refused = await push(work, url, ["HEAD:refs/heads/main"]);
  assert.is.not(refused.exitCode, 0);
  const problems = refused.remote.filter((l) => /^pkgs\//.test(l));
  assert.is(problems.length, 1, refused.remote.join("\n"));
  assert.match(problems[0] ?? "", /^pkgs\/p250\/default\.nix:\d+: /);
  const remoteMain = await gitIn(work, "ls-remote", url, "refs/heads/main");
  assert.is(remoteMain.split("\t")[0], before);
});

test.run();
