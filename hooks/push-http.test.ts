/**
 * The hooks behind the real `flox server`, over HTTP: what a user's `git push` sees.
 * (A test may reach into testing/; the hooks' code itself imports only lib/.)
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commitAll, ensureCompiledHooks, gitIn, push, workRepoFromFixture } from "../testing/repos.js";
import { startTestServer, type TestServer } from "../testing/server.js";

let srv: TestServer;
let tmp = "";
let remoteUrl = "";
let counter = 0;

const ZERO = "0".repeat(40);

/** A work repo of fixture `name`, with `edit` committed on top when given. */
async function fixture(name: string, edit?: (dir: string) => Promise<void>): Promise<string> {
  const dir = await workRepoFromFixture(name, join(tmp, `w${++counter}`));
  if (edit) {
    await edit(dir);
    await commitAll(dir, "edit");
  }
  return dir;
}

/** A clone of the remote's main (credentials in the URL, as a script would do). */
async function cloneMain(): Promise<string> {
  const dir = join(tmp, `clone${++counter}`);
  await execa("git", ["clone", "-q", remoteUrl, dir]);
  return dir;
}

async function remoteMain(): Promise<string | undefined> {
  const r = await execa("git", ["ls-remote", remoteUrl, "refs/heads/main"], { reject: false });
  return r.stdout.split("\t")[0] || undefined;
}

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-push-http-"));
  srv = await startTestServer();
  const org = await srv.api("POST", "/api/v1/orgs", { name: "acme" });
  assert.is(org.status, 201, JSON.stringify(org.body));
  remoteUrl = srv.gitUrl("acme", srv.adminToken);
});

test.after(async () => {
  await srv?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

test("the good fixture is accepted and recorded", async () => {
  const work = await fixture("good");
  const head = await gitIn(work, "rev-parse", "HEAD");
  const r = await push(work, remoteUrl, ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.remote[0], "checked refs/heads/main: 6 packages evaluate");
  assert.match(r.remote[1] ?? "", /^recorded push #\S+ for refs\/heads\/main$/);
  assert.is(await remoteMain(), head);
  const pushes = await srv.api("GET", "/api/v1/orgs/acme/pushes");
  assert.is(pushes.status, 200);
  const mine = pushes.body.pushes.find((p: { newSha: string }) => p.newSha === head);
  assert.ok(mine, JSON.stringify(pushes.body));
  assert.equal(
    { org: mine.org, ref: mine.ref, oldSha: mine.oldSha, pushOptions: mine.pushOptions, source: mine.source },
    { org: "acme", ref: "refs/heads/main", oldSha: ZERO, pushOptions: [], source: "hook" },
  );
});

test("a bad push is refused with every problem, and main stays", async () => {
  const before = await remoteMain();
  const work = await cloneMain();
  await mkdir(join(work, "pkgs/Hello"), { recursive: true });
  await writeFile(
    join(work, "pkgs/Hello/default.nix"),
    '{ writeShellScriptBin }: writeShellScriptBin "x" ""\n',
  );
  await mkdir(join(work, "pkgs/empty"), { recursive: true });
  await writeFile(join(work, "pkgs/empty/notes.txt"), "no default.nix here\n");
  await writeFile(join(work, "Makefile"), "all:\n");
  const head = await commitAll(work, "bad");
  const r = await push(work, remoteUrl, ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 1);
  assert.equal(r.remote, [
    "Makefile:1: Makefile is not allowed at the top level (the top level may hold only pkgs/, lib/, README*, " +
      "LICENSE*, .gitignore, .gitattributes and flox.toml; move it (a package goes in pkgs/<name>/default.nix) " +
      "or remove it)",
    "pkgs/Hello/:1: package name Hello clashes with pkgs/hello/ (names must be unique ignoring case) " +
      "(rename or merge them: they collide on case-insensitive file systems and in channel URLs)",
    "pkgs/empty/:1: package empty has no default.nix (add pkgs/empty/default.nix, a callPackage-style function " +
      "({ stdenv, ... }: stdenv.mkDerivation { ... }), or run flox init)",
    "pkgs/hello/:1: package name hello clashes with pkgs/Hello/ (names must be unique ignoring case) " +
      "(rename or merge them: they collide on case-insensitive file systems and in channel URLs)",
    `push refused: 4 problems in refs/heads/main at ${head.slice(0, 7)}; nothing was changed`,
  ]);
  assert.is(await remoteMain(), before);
});

test("two concurrent pushes to one branch: one wins, the other is told to fetch", async () => {
  const a = await cloneMain();
  const b = await cloneMain();
  await writeFile(join(a, "README.md"), "# from a\n");
  await writeFile(join(b, "README.md"), "# from b\n");
  const heads = [await commitAll(a, "a"), await commitAll(b, "b")];
  const results = await Promise.all([a, b].map((dir) => push(dir, remoteUrl, ["HEAD:refs/heads/main"])));
  const winners = results.filter((r) => r.exitCode === 0);
  assert.is(winners.length, 1, results.map((r) => r.stderr).join("\n----\n"));
  const loser = results.find((r) => r.exitCode !== 0);
  // Whoever loses after the ref advertisement hears it from our hook; before it, from git itself.
  assert.match(loser?.stderr ?? "", /run git fetch, then git pull --rebase|\(fetch first\)/);
  assert.is(await remoteMain(), heads[results.indexOf(winners[0] as (typeof results)[number])]);
});

test("a 50 MB push of files under the size limit is accepted", async () => {
  const work = await cloneMain();
  await mkdir(join(work, "pkgs/bulk"), { recursive: true });
  await writeFile(
    join(work, "pkgs/bulk/default.nix"),
    '{ runCommand }: runCommand "bulk" { } "mkdir $out"\n',
  );
  for (let i = 0; i < 10; i++)
    await writeFile(join(work, `pkgs/bulk/data-${i}.bin`), randomBytes(5 * 1024 * 1024));
  const head = await commitAll(work, "bulk");
  const r = await push(work, remoteUrl, ["-o", "skip-ci", "HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.remote[0], "checked refs/heads/main: 7 packages evaluate");
  assert.is(await remoteMain(), head);
  const pushes = await srv.api("GET", "/api/v1/orgs/acme/pushes");
  const mine = pushes.body.pushes.find((p: { newSha: string }) => p.newSha === head);
  assert.equal(mine?.pushOptions, ["skip-ci"]);
});

test.run();
