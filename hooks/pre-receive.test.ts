/**
 * End to end without the flox server: a bare repo with the compiled hooks installed as the server
 * installs them, real `git push`es of fixture repos, and a tiny HTTP server standing in for
 * `POST /api/v1/internal/pushes`. Needs dist/ (built here when missing; rebuild after changes).
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdir, mkdtemp, readFile, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ensureBusyboxDir } from "../lib/busybox-dir.js";
import { compiledPath } from "../lib/project-root.js";
import { removeTree } from "../testing/remove-tree.js";
import {
  commitAll,
  ensureCompiledHooks,
  gitIn,
  hookScript,
  push,
  workRepoFromFixture,
} from "../testing/repos.js";

const ZERO = "0".repeat(40);
const MAX_FILE_SIZE = 64 * 1024;
const SECRET = "hook-secret-for-tests";

let tmp = "";
let remote = "";
let work = "";
let server: Server;
let received: { auth: string | undefined; body: Record<string, unknown> }[] = [];

async function bareRepo(name: string, runFile: string): Promise<string> {
  const dir = join(tmp, `${name}.git`);
  await execa("git", ["init", "-q", "--bare", "--initial-branch=main", dir]);
  for (const [k, v] of [
    ["receive.advertisePushOptions", "true"],
    ["flox.org", "acme"],
    ["flox.runFile", runFile],
  ] as const) {
    await gitIn(dir, "config", k, v);
  }
  for (const hook of ["pre-receive", "post-receive"] as const) {
    await writeFile(join(dir, "hooks", hook), hookScript(hook), { mode: 0o755 });
  }
  return dir;
}

async function writeRunFile(path: string, serverUrl: string): Promise<void> {
  await mkdir(join(path, ".."), { recursive: true });
  const runFile = {
    serverUrl,
    hookSecret: SECRET,
    maxFileSize: MAX_FILE_SIZE,
    storeRoot: join(tmp, "nix-root"),
    busyboxDir: await ensureBusyboxDir(join(tmp, "busybox")),
    basePath: null,
    system: process.arch === "arm64" ? "aarch64-linux" : "x86_64-linux",
  };
  await writeFile(path, JSON.stringify(runFile, null, 2));
}

const refIn = async (repo: string, ref: string) =>
  (
    await execa("git", ["rev-parse", "--verify", "--quiet", ref], { cwd: repo, reject: false })
  ).stdout.trim() || undefined;

/** A work repo from the fixture, committed, with `edit` applied in a second commit when given. */
async function fixture(name: string, edit?: (dir: string) => Promise<void>): Promise<string> {
  const dir = await workRepoFromFixture(name, join(tmp, `w-${name}-${randomBytes(3).toString("hex")}`));
  if (edit) {
    await edit(dir);
    await commitAll(dir, "edit");
  }
  return dir;
}

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-pre-receive-"));
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      received.push({ auth: req.headers.authorization, body: JSON.parse(body) });
      res.writeHead(201, { "content-type": "application/json" });
      // A whole push record, as the server answers (the hook checks the answer's shape).
      const push = {
        id: received.length,
        ...JSON.parse(body),
        source: "hook",
        receivedAt: new Date().toISOString(),
      };
      res.end(JSON.stringify({ push }));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await writeRunFile(join(tmp, "run", "hooks.json"), url);
  remote = await bareRepo("acme", join(tmp, "run", "hooks.json"));
  work = await fixture("good");
});

test.after(async () => {
  server?.close();
  if (tmp) await removeTree(tmp);
});

test("the good fixture is accepted, checked, and handed to the server", async () => {
  received = [];
  const head = await gitIn(work, "rev-parse", "HEAD");
  const r = await push(work, remote, ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.equal(r.remote, [
    "checked refs/heads/main: 6 packages evaluate",
    "recorded push #1 for refs/heads/main",
  ]);
  assert.is(await refIn(remote, "refs/heads/main"), head);
  assert.equal(received, [
    {
      auth: `Bearer ${SECRET}`,
      body: { org: "acme", ref: "refs/heads/main", oldSha: ZERO, newSha: head, pushOptions: [] },
    },
  ]);
});

test("two branches at one tree are checked once each, and -o skip-ci is accepted and passed on", async () => {
  received = [];
  const head = await gitIn(work, "rev-parse", "HEAD");
  const r = await push(work, remote, ["-o", "skip-ci", "HEAD:refs/heads/a", "HEAD:refs/heads/b"]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.equal(r.remote, [
    "checked refs/heads/a: 6 packages evaluate",
    "checked refs/heads/b: 6 packages evaluate",
    "recorded push #1 for refs/heads/a",
    "recorded push #2 for refs/heads/b",
  ]);
  assert.equal(
    received.map((x) => x.body),
    ["refs/heads/a", "refs/heads/b"].map((ref) => ({
      org: "acme",
      ref,
      oldSha: ZERO,
      newSha: head,
      pushOptions: ["skip-ci"],
    })),
  );
});

const TOP_HINT =
  "(the top level may hold only pkgs/, lib/, README*, LICENSE*, .gitignore, .gitattributes and flox.toml; " +
  "move it (a package goes in pkgs/<name>/default.nix) or remove it)";
const NAME_RULE = "it must start with a letter or digit and hold only letters, digits and . _ + -";
const CLASH_HINT =
  "(rename or merge them: they collide on case-insensitive file systems and in channel URLs)";
const SYNTAX_HINT =
  "(fix the Nix syntax: the parser stops where it noticed, the mistake is often just before)";

/** Each bad fixture, pushed as a new branch, with every line the pusher must see (before the summary). */
const badFixtures: Record<string, string[]> = {
  "bad-toplevel": [`src/:1: src/ is not allowed at the top level ${TOP_HINT}`],
  "missing-default": [
    "pkgs/foo/:1: package foo has no default.nix (add pkgs/foo/default.nix, a callPackage-style function " +
      "({ stdenv, ... }: stdenv.mkDerivation { ... }), or run flox init)",
  ],
  "bad-name": [
    `pkgs/-foo/:1: invalid package name "-foo": ${NAME_RULE} (rename the directory, e.g. to pkgs/foo/)`,
    `pkgs/foo bar/:1: invalid package name "foo bar": ${NAME_RULE} (rename the directory, e.g. to pkgs/foo-bar/)`,
  ],
  "dup-name": [
    `pkgs/Foo/:1: package name Foo clashes with pkgs/foo/ (names must be unique ignoring case) ${CLASH_HINT}`,
    `pkgs/foo/:1: package name foo clashes with pkgs/Foo/ (names must be unique ignoring case) ${CLASH_HINT}`,
  ],
  "parse-error": [
    `lib/strings.nix:4: syntax error, unexpected ';' ${SYNTAX_HINT}`,
    `pkgs/broken/default.nix:5: syntax error, unexpected IN, expecting ';' ${SYNTAX_HINT}`,
  ],
  "eval-error": [
    "pkgs/missing-arg/default.nix:1: called without required argument 'frobnicate' (no package 'frobnicate' in " +
      "pkgs/ or in the base set: declare it in pkgs/frobnicate/ or check the spelling; available from base: " +
      "busybox, fetchurl, lib, runCommand, runCommandLocal, runtimeShell, stdenv, symlinkJoin, system, writeScript, " +
      "writeScriptBin, writeShellScript, writeShellScriptBin, writeText, writeTextFile)",
    "pkgs/not-a-drv/default.nix:1: evaluates to an attribute set, not a derivation (a package file is a function " +
      "of its dependencies returning one package, e.g. { stdenv }: stdenv.mkDerivation { … })",
    "pkgs/undefined-var/default.nix:9: undefined variable 'instalPhaseExtra' ('instalPhaseExtra' is not defined " +
      "here: if it is a package, add it to the function's arguments; otherwise check the spelling)",
  ],
};

for (const [name, expected] of Object.entries(badFixtures)) {
  test(`fixture ${name} is refused with every problem, and no ref changes`, async () => {
    const dir = await fixture(name);
    const head = await gitIn(dir, "rev-parse", "HEAD");
    const refsBefore = await gitIn(remote, "for-each-ref");
    const r = await push(dir, remote, [`HEAD:refs/heads/fx-${name}`]);
    assert.is(r.exitCode, 1, r.stderr);
    const n = expected.length;
    assert.equal(r.remote, [
      ...expected,
      `push refused: ${n} ${n === 1 ? "problem" : "problems"} in refs/heads/fx-${name} at ${head.slice(0, 7)}; ` +
        "nothing was changed",
    ]);
    assert.is(await gitIn(remote, "for-each-ref"), refsBefore);
  });
}

test("a refused ref refuses the whole push", async () => {
  const bad = await fixture("bad-toplevel");
  await gitIn(bad, "fetch", "-q", remote, "refs/heads/main:refs/remotes/origin/main");
  const r = await push(bad, remote, ["refs/remotes/origin/main:refs/heads/copy", "HEAD:refs/heads/bad"]);
  assert.is(r.exitCode, 1);
  assert.is(
    r.remote[0],
    "checked refs/heads/copy: 6 packages evaluate (not updated: the push as a whole was refused)",
  );
  assert.is(await refIn(remote, "refs/heads/copy"), undefined);
  assert.is(await refIn(remote, "refs/heads/bad"), undefined);
});

const SYMLINK_HINT = "(point it at a file inside the repo with a relative target, or copy the file in)";

test("a symlink leaving the repo and a file over the limit are refused, every problem listed", async () => {
  const before = await refIn(remote, "refs/heads/main");
  const dir = await fixture("good", async (d) => {
    await symlink("../../../../etc/passwd", join(d, "pkgs/hello/passwd"));
    await symlink("/etc/shadow", join(d, "pkgs/hello/shadow"));
    await writeFile(join(d, "pkgs/hello/blob.bin"), randomBytes(MAX_FILE_SIZE + 1));
    await writeFile(join(d, "notes.txt"), "x");
  });
  const head = await gitIn(dir, "rev-parse", "HEAD");
  const r = await push(dir, remote, ["--force", "-o", "force", "HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 1);
  assert.equal(r.remote, [
    "notes.txt:1: notes.txt is not allowed at the top level (the top level may hold only pkgs/, lib/, README*, " +
      "LICENSE*, .gitignore, .gitattributes and flox.toml; move it (a package goes in pkgs/<name>/default.nix) " +
      "or remove it)",
    "pkgs/hello/blob.bin:1: file is 64.0 KiB (65537 bytes), over the 64.0 KiB (65536 bytes) limit (keep big " +
      "sources out of the repo: fetch them in the derivation (fetchurl with a hash), or ask the server admin to " +
      "raise the limit)",
    `pkgs/hello/passwd:1: symlink target ../../../../etc/passwd leaves the repo ${SYMLINK_HINT}`,
    `pkgs/hello/shadow:1: symlink target /etc/shadow is an absolute path ${SYMLINK_HINT}`,
    `push refused: 4 problems in refs/heads/main at ${head.slice(0, 7)}; nothing was changed`,
  ]);
  assert.match(r.stdout, "pre-receive hook declined");
  assert.is(await refIn(remote, "refs/heads/main"), before);
});

test("a tag is pushed without the gate; branches and tags can be deleted", async () => {
  const bad = await fixture("good", async (d) => {
    await writeFile(join(d, "stray.txt"), "not allowed at the top level");
  });
  const head = await gitIn(bad, "rev-parse", "HEAD");
  await gitIn(bad, "tag", "v1");
  let r = await push(bad, remote, ["refs/tags/v1:refs/tags/v1"]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(await refIn(remote, "refs/tags/v1"), head);

  r = await push(work, remote, ["HEAD:refs/heads/doomed"]);
  assert.is(r.exitCode, 0, r.stderr);
  r = await push(work, remote, [":refs/heads/doomed", ":refs/tags/v1"]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(await refIn(remote, "refs/heads/doomed"), undefined);
  assert.is(await refIn(remote, "refs/tags/v1"), undefined);
});

test("an empty tree and a tree without packages are accepted", async () => {
  const dir = join(tmp, "empty-work");
  await mkdir(dir);
  await gitIn(dir, "init", "-q", "-b", "main");
  await commitAll(dir, "empty");
  let r = await push(dir, remote, ["HEAD:refs/heads/empty"]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.remote[0], "checked refs/heads/empty: 0 packages evaluate");
  await writeFile(join(dir, "README.md"), "# soon\n");
  await commitAll(dir, "readme");
  r = await push(dir, remote, ["HEAD:refs/heads/empty"]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.remote[0], "checked refs/heads/empty: 0 packages evaluate");
});

test("refs other than branches and tags are refused", async () => {
  const head = await gitIn(work, "rev-parse", "HEAD");
  const r = await push(work, remote, ["HEAD:refs/notes/mine"]);
  assert.is(r.exitCode, 1);
  assert.equal(r.remote, [
    "refs/notes/mine: only branches (refs/heads/*) and tags (refs/tags/*) can be pushed here " +
      "(push to a branch, e.g. git push origin HEAD:refs/heads/my-branch)",
    `push refused: 1 problem in refs/notes/mine at ${head.slice(0, 7)}; nothing was changed`,
  ]);
  assert.is(await refIn(remote, "refs/notes/mine"), undefined);
});

test("a force-push to main is refused unless -o force; other branches may be rewritten", async () => {
  const main = await refIn(remote, "refs/heads/main");
  assert.ok(main);
  // Same files, unrelated history: not a fast-forward of main.
  const other = await fixture("good", async (d) => {
    await writeFile(join(d, "README.md"), "# rewritten\n");
  });
  await gitIn(other, "checkout", "-q", "--orphan", "rewritten");
  await commitAll(other, "rewritten");
  const head = await gitIn(other, "rev-parse", "HEAD");

  let r = await push(other, remote, ["--force", "HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 1);
  assert.equal(r.remote, [
    `refs/heads/main: non-fast-forward push to main: ${head.slice(0, 7)} does not contain ${main.slice(0, 7)}, ` +
      "so commits on main would be lost (git pull --rebase and push again, or if rewriting main is intended, " +
      "git push --force -o force)",
    `push refused: 1 problem in refs/heads/main at ${head.slice(0, 7)}; nothing was changed`,
  ]);
  assert.is(await refIn(remote, "refs/heads/main"), main);

  r = await push(other, remote, ["--force", "HEAD:refs/heads/a"]);
  assert.is(r.exitCode, 0, r.stderr);

  r = await push(other, remote, ["--force", "-o", "force", "HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.remote[0], "checked refs/heads/main: 6 packages evaluate");
  assert.is(await refIn(remote, "refs/heads/main"), head);
});

test("a push whose old value is stale is told to fetch", async () => {
  // receive-pack serialises nothing locally, so play the losing push by hand: the hook gets the
  // old value the pusher saw, and the branch has moved since.
  const main = (await refIn(remote, "refs/heads/main")) as string;
  const stale = await gitIn(work, "rev-parse", "HEAD");
  const r = await execa(process.execPath, [compiledPath("hooks/pre-receive.ts")], {
    cwd: remote,
    input: `${stale} ${main} refs/heads/main\n`,
    env: { GIT_DIR: "." },
    reject: false,
  });
  assert.is(r.exitCode, 1);
  assert.equal(r.stderr.split("\n"), [
    `refs/heads/main: the branch moved to ${main.slice(0, 7)} since you fetched it (your push expected ` +
      `${stale.slice(0, 7)}) (run git fetch, then git pull --rebase (or merge), and push again)`,
    `push refused: 1 problem in refs/heads/main at ${main.slice(0, 7)}; nothing was changed`,
  ]);
});

test("post-receive spools the record when the server is away", async () => {
  const dead = createServer();
  dead.listen(0, "127.0.0.1");
  await once(dead, "listening");
  const url = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
  dead.close();
  await writeRunFile(join(tmp, "run-dead", "hooks.json"), url);
  const repo = await bareRepo("spooled", join(tmp, "run-dead", "hooks.json"));
  const head = await gitIn(work, "rev-parse", "HEAD");
  const r = await push(work, repo, ["-o", "skip-ci", "HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is(r.remote[0], "checked refs/heads/main: 6 packages evaluate");
  assert.match(
    r.remote[1] ?? "",
    /^flox: warning: could not hand refs\/heads\/main to the server \(.+\); saved it in .+flox-spool\.jsonl, the server takes it from there when it starts$/,
  );
  assert.is(await refIn(repo, "refs/heads/main"), head);
  const lines = (await readFile(join(repo, "flox-spool.jsonl"), "utf8")).trim().split("\n");
  assert.is(lines.length, 1);
  const { spooledAt, error, ...record } = JSON.parse(lines[0] as string);
  assert.equal(record, {
    org: "acme",
    ref: "refs/heads/main",
    oldSha: ZERO,
    newSha: head,
    pushOptions: ["skip-ci"],
  });
  assert.type(spooledAt, "string");
  assert.type(error, "string");
});

test.run();
