// The `flox` command as users run it: the built CLI (cli/bin/flox → dist/), spawned as a process.
// Needs `npm run build` (or `npx tsc -p tsconfig.json`) first; `npm test` does that.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import type { Command } from "commander";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compiledPath, projectRoot } from "../lib/project-root.js";
import { runGit } from "../testing/repos.js";
import { startTestServer, type TestServer } from "../testing/server.js";
import { MALLOC_TUNABLES } from "./malloc-tunables.js";
import { buildProgram, version } from "./program.js";

const floxBin = join(projectRoot, "cli", "bin", "flox");
// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for terminal escape codes
const escapeCode = /\x1b\[/;

let home = "";

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `flox ARGS` (as whoever `flox login` saved, in this test's config directory) with a clean environment: no FLOX_* from the caller, its own config directory. */
async function flox(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const clean: Record<string, string | undefined> = {
    ...process.env,
    FLOX_SERVER: undefined,
    FLOX_TOKEN: undefined,
  };
  const r = await execa(process.execPath, [floxBin, ...args], {
    reject: false,
    stdin: "ignore",
    env: { ...clean, XDG_CONFIG_HOME: join(home, "config"), HOME: home, ...env },
    extendEnv: false,
    timeout: 30_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function show(r: Run): string {
  return `exit ${r.exitCode}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
}

test.before(async () => {
  if (!existsSync(compiledPath("cli/main.ts"))) {
    throw new Error("dist/cli/main.js is missing: run `npx tsc -p tsconfig.json` (or `npm run build`) first");
  }
  home = await mkdtemp(join(tmpdir(), "flox-cli-test-"));
});
test.after(async () => {
  await stopServer();
  await rm(home, { recursive: true, force: true });
});

// ---- without a server ----

test("--version prints the version and exits 0", async () => {
  const pkg = JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as { version: string };
  assert.is(version, pkg.version, "cli/program.ts's version matches package.json");
  const r = await flox(["--version"]);
  assert.is(r.exitCode, 0, show(r));
  assert.is(r.stdout.trim(), pkg.version);
});

/** The files and packages reached through static imports from a compiled file (dynamic `import()` excluded). */
function staticImports(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const source = readFileSync(file, "utf8");
  for (const m of source.matchAll(/^\s*(?:import|export)\s(?:[^"';]*?\sfrom\s)?["']([^"']+)["']/gm)) {
    const spec = m[1] ?? "";
    if (spec.startsWith(".")) staticImports(join(dirname(file), spec), seen);
    else seen.add(spec);
  }
  return seen;
}

test("the bin tunes malloc for flox's own process and gives the programs it runs the caller's GLIBC_TUNABLES back", async () => {
  assert.ok(
    readFileSync(floxBin, "utf8").includes(`GLIBC_TUNABLES="${MALLOC_TUNABLES}$`),
    "the bin sets MALLOC_TUNABLES",
  );
  // Every git the server runs goes through this wrapper, which notes the environment it was given.
  const dir = await mkdtemp(join(tmpdir(), "flox-bin-env-"));
  const realGit = (await execa("sh", ["-c", "command -v git"])).stdout;
  writeFileSync(join(dir, "git"), `#!/bin/sh\nenv > "${dir}/env.$$"\nexec '${realGit}' "$@"\n`, {
    mode: 0o755,
  });
  const seen = () =>
    readdirSync(dir)
      .filter((f) => f.startsWith("env."))
      .map((f) => readFileSync(join(dir, f), "utf8").split("\n"));
  try {
    for (const user of [process.env.GLIBC_TUNABLES, "glibc.malloc.arena_max=4"]) {
      for (const f of readdirSync(dir)) if (f.startsWith("env.")) rmSync(join(dir, f));
      const env: Record<string, string> = { PATH: `${dir}:${process.env.PATH}` };
      if (user) env.GLIBC_TUNABLES = user;
      const srv = await startTestServer({ env });
      try {
        const environ = readFileSync(`/proc/${srv.process.pid}/environ`, "latin1").split("\0");
        // glibc 2.36 cuts the variable at its first ':' in place as it reads it: ours comes first.
        const first = MALLOC_TUNABLES.split(":")[0] as string;
        assert.ok(
          environ.some((kv) => kv.startsWith(`GLIBC_TUNABLES=${first}`)),
          "the server process runs tuned",
        );
        assert.is((await srv.api("POST", "/api/v1/orgs", { name: "envcheck" })).status, 201);
        await runGit(["ls-remote", srv.gitUrl("envcheck", srv.adminToken)], dir);
        const runs = seen();
        assert.ok(runs.length > 0, "the server ran git");
        for (const lines of runs) {
          assert.equal(
            lines.filter((l) => l.startsWith("GLIBC_TUNABLES=")),
            user ? [`GLIBC_TUNABLES=${user}`] : [],
            "git sees the caller's own setting (or none)",
          );
          assert.not.ok(lines.some((l) => l.startsWith("FLOX_USER_GLIBC_TUNABLES=")));
        }
      } finally {
        await srv.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("start-up loads commander, the command tree and the API enums only; zod and the API client wait for a command", () => {
  const reached = [...staticImports(compiledPath("cli/main.ts"))].map((f) =>
    f.startsWith(projectRoot) ? relative(projectRoot, f) : f,
  );
  assert.equal(reached.sort(), [
    "commander",
    "dist/cli/main.js",
    "dist/cli/output.js",
    "dist/cli/program.js",
    "dist/cli/tree/agent.js",
    "dist/cli/tree/auth.js",
    "dist/cli/tree/builder.js",
    "dist/cli/tree/builds.js",
    "dist/cli/tree/channels.js",
    "dist/cli/tree/ci.js",
    "dist/cli/tree/daemon.js",
    "dist/cli/tree/help.js",
    "dist/cli/tree/index.js",
    "dist/cli/tree/local.js",
    "dist/cli/tree/machines.js",
    "dist/cli/tree/org.js",
    "dist/cli/tree/profiles.js",
    "dist/cli/tree/pushes.js",
    "dist/cli/tree/server.js",
    "dist/cli/tree/storehouse.js",
    "dist/cli/tree/token.js",
    "dist/cli/tree/user.js",
    "dist/lib/api/enums.js",
  ]);
});

/** Every command in the tree, as the argv that reaches it: [], ["org"], ["org", "member", "add"], … */
function commandPaths(cmd: Command, path: string[] = []): { path: string[]; cmd: Command }[] {
  return [{ path, cmd }, ...cmd.commands.flatMap((sub) => commandPaths(sub, [...path, sub.name()]))];
}

test("--help on every command exits 0 and lists its options and examples", async () => {
  const all = commandPaths(buildProgram());
  assert.ok(all.length >= 20, `walked ${all.length} commands`);
  await Promise.all(
    all.map(async ({ path, cmd }) => {
      const r = await flox([...path, "--help"]);
      const name = `flox ${path.join(" ")} --help`;
      assert.is(r.exitCode, 0, `${name}: ${show(r)}`);
      assert.match(r.stdout, `Usage: flox${path.length ? ` ${path.join(" ")}` : ""}`, name);
      // Help wraps long lines to the terminal's width: compare with whitespace collapsed.
      const flat = (text: string) => text.replace(/\s+/g, " ");
      assert.match(flat(r.stdout), flat(cmd.description()), name);
      for (const opt of cmd.options)
        assert.match(r.stdout, opt.long ?? opt.flags, `${name} mentions ${opt.flags}`);
      // The global options (--server, --token, --json) show under every subcommand.
      for (const global of ["--server", "--token", "--json"])
        assert.match(r.stdout, global, `${name} shows ${global}`);
      if (path.length > 0) assert.match(r.stdout, "Examples:", `${name} has examples`);
      assert.not.match(r.stdout, escapeCode, `${name} has no escape codes`);
    }),
  );
});

test("an unknown command exits 2 and says so", async () => {
  const r = await flox(["frobnicate"]);
  assert.is(r.exitCode, 2, show(r));
  assert.match(r.stderr, "unknown command 'frobnicate'");
  const sub = await flox(["org", "frobnicate"]);
  assert.is(sub.exitCode, 2, show(sub));
});

test("no command at all shows the help and exits 2", async () => {
  const r = await flox([]);
  assert.is(r.exitCode, 2, show(r));
  assert.match(r.stderr, "Usage: flox");
});

test("a missing argument or required option exits 2 with the reason", async () => {
  const noArg = await flox(["org", "create"]);
  assert.is(noArg.exitCode, 2, show(noArg));
  assert.match(noArg.stderr, "missing required argument 'name'");

  const noRole = await flox(["org", "member", "add", "acme", "alice"]);
  assert.is(noRole.exitCode, 2, show(noRole));
  assert.match(noRole.stderr, "required option '--role <role>' not specified");

  const badRole = await flox(["org", "member", "add", "acme", "alice", "--role", "boss"]);
  assert.is(badRole.exitCode, 2, show(badRole));
  assert.match(badRole.stderr, "owner, member, reader");
});

test("token create needs exactly one kind of token (exit 2)", async () => {
  for (const args of [
    [],
    ["--org", "acme"],
    ["--role", "member"],
    ["--admin", "--builder"],
    ["--admin", "--org", "a"],
  ]) {
    const r = await flox(["token", "create", ...args]);
    assert.is(r.exitCode, 2, `token create ${args.join(" ")}: ${show(r)}`);
    assert.ok(r.stderr.length > 0);
  }
});

test("no server configured exits 1 with what to do", async () => {
  const r = await flox(["org", "list"]);
  assert.is(r.exitCode, 1, show(r));
  assert.is(
    r.stderr.trim(),
    "flox: no server configured: pass --server URL, set FLOX_SERVER, or run `flox login URL`",
  );
});

/** A loopback port nothing listens on (fetch refuses the "bad ports" such as 1 and 9 before connecting). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

test("a server that is not there exits 1 naming the URL", async () => {
  const server = `http://127.0.0.1:${await closedPort()}`;
  const r = await flox(["whoami"], { FLOX_SERVER: server, FLOX_TOKEN: "flox_x" });
  assert.is(r.exitCode, 1, show(r));
  assert.match(r.stderr, `cannot reach the flox server at ${server}: ECONNREFUSED`);
  assert.not.match(r.stderr, "    at ", "no stack trace");
});

test("login with no token anywhere exits 1", async () => {
  const r = await flox(["login", "http://127.0.0.1:9"]);
  assert.is(r.exitCode, 1, show(r));
  assert.match(r.stderr, "no token given");
});

// ---- against a real server (the compiled `flox server`, started by the server's test harness) ----

let running: TestServer | undefined;
async function stopServer(): Promise<void> {
  await running?.stop();
  running = undefined;
}

async function json<T>(args: string[]): Promise<T> {
  const r = await flox([...args, "--json"]);
  assert.is(r.exitCode, 0, `${args.join(" ")}: ${show(r)}`);
  return JSON.parse(r.stdout) as T;
}

test("end to end: login, orgs, users, members, tokens, pushes, logout", async () => {
  running = await startTestServer();
  const { url, adminToken } = running;

  const login = await flox(["login", url, "--token", adminToken]);
  assert.is(login.exitCode, 0, show(login));
  assert.match(login.stdout, "logged in");
  const configFile = join(home, "config", "flox", "config.json");
  assert.is((await stat(configFile)).mode & 0o777, 0o600);
  assert.equal(JSON.parse(readFileSync(configFile, "utf8")), { server: url, token: adminToken });

  const me = await json<{ token: { scope: string } }>(["whoami"]);
  assert.is(me.token.scope, "admin");

  const created = await flox(["org", "create", "acme", "--display-name", "Acme Corp"]);
  assert.is(created.exitCode, 0, show(created));
  assert.match(created.stdout, `git remote add flox ${url}/acme/nixexprs.git`);
  assert.not.match(created.stdout, escapeCode);

  const orgs = await json<{ orgs: { name: string; displayName: string }[] }>(["org", "list"]);
  assert.ok(
    orgs.orgs.some((o) => o.name === "acme" && o.displayName === "Acme Corp"),
    JSON.stringify(orgs),
  );
  assert.match((await flox(["org", "show", "acme"])).stdout, /\nvisibility\s+private\n/);
  const open = await flox(["org", "create", "oss", "--public"]);
  assert.is(open.exitCode, 0, show(open));
  assert.match(open.stdout, /public: anyone may read its CI pages/);
  assert.match((await flox(["org", "show", "oss"])).stdout, /\nvisibility\s+public\n/);
  const listed = await flox(["org", "list"]);
  assert.match(listed.stdout, /^NAME\s+DISPLAY NAME\s+REPO\s+CREATED\n/);
  assert.match(listed.stdout, /\nacme\s+Acme Corp\s+http/);

  // The server's own words reach the user, with exit 1.
  const again = await fetch(`${url}/api/v1/orgs`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "acme" }),
  });
  assert.is(again.status, 409);
  const serverMessage = ((await again.json()) as { error: { message: string } }).error.message;
  const twice = await flox(["org", "create", "acme"]);
  assert.is(twice.exitCode, 1, show(twice));
  assert.match(twice.stderr, serverMessage);
  assert.not.match(twice.stderr, "    at ", "no stack trace");

  const shown = await json<{ org: { repoUrl: string } }>(["org", "show", "acme"]);
  assert.is(shown.org.repoUrl, `${url}/acme/nixexprs.git`);

  const orgToken = await json<{
    token: { id: number; scope: string; org: string; role: string };
    secret: string;
  }>(["token", "create", "--org", "acme", "--role", "member", "--name", "ci"]);
  assert.match(orgToken.secret, /^flox_[A-Za-z0-9_-]{43}$/);
  assert.equal([orgToken.token.scope, orgToken.token.org, orgToken.token.role], ["org", "acme", "member"]);

  const human = await flox(["token", "create", "--org", "acme", "--role", "reader"]);
  assert.is(human.exitCode, 0, show(human));
  const secret = /flox_[A-Za-z0-9_-]{43}/.exec(human.stdout)?.[0] ?? "";
  const host = new URL(url).host;
  assert.match(human.stdout, `git clone http://x:${secret}@${host}/acme/nixexprs.git`);
  assert.match(human.stdout, `export FLOX_TOKEN=${secret}`);
  // The printed clone command works as printed (a reader token may fetch).
  const cloneUrl = /git clone (\S+)/.exec(human.stdout)?.[1] ?? "";
  const clone = await runGit(["clone", cloneUrl, join(home, "clone")], home);
  assert.is(clone.exitCode, 0, clone.stderr);

  const user = await flox(["user", "create", "alice"]);
  assert.is(user.exitCode, 0, show(user));
  const users = await json<{ users: { name: string }[] }>(["user", "list"]);
  assert.ok(users.users.some((u) => u.name === "alice"));

  const add = await flox(["org", "member", "add", "acme", "alice", "--role", "owner"]);
  assert.is(add.exitCode, 0, show(add));
  const members = await json<{ members: { user: string; role: string }[] }>([
    "org",
    "member",
    "list",
    "acme",
  ]);
  assert.equal(members.members, [{ user: "alice", org: "acme", role: "owner" }]);

  const tokens = await json<{ tokens: { id: number; revokedAt: string | null }[] }>(["token", "list"]);
  assert.ok(tokens.tokens.some((t) => t.id === orgToken.token.id && t.revokedAt === null));
  const tokenTable = await flox(["token", "list"]);
  assert.match(tokenTable.stdout, /^ID\s+NAME\s+SCOPE/);

  // The org token works for its org until it is revoked.
  const asMember = await flox(["whoami", "--json"], { FLOX_SERVER: url, FLOX_TOKEN: orgToken.secret });
  assert.is(asMember.exitCode, 0, show(asMember));
  const revoke = await flox(["token", "revoke", String(orgToken.token.id)]);
  assert.is(revoke.exitCode, 0, show(revoke));
  const afterRevoke = await json<{ tokens: { id: number; revokedAt: string | null }[] }>(["token", "list"]);
  assert.ok(afterRevoke.tokens.find((t) => t.id === orgToken.token.id)?.revokedAt, "revokedAt is set");
  const revoked = await flox(["whoami"], { FLOX_SERVER: url, FLOX_TOKEN: orgToken.secret });
  assert.is(revoked.exitCode, 1, show(revoked));

  const pushes = await json<{ pushes: unknown[] }>(["pushes", "acme"]);
  assert.equal(pushes.pushes, []);
  const unknownOrg = await flox(["pushes", "nope"]);
  assert.is(unknownOrg.exitCode, 1, show(unknownOrg));

  const remove = await flox(["org", "member", "remove", "acme", "alice"]);
  assert.is(remove.exitCode, 0, show(remove));
  assert.equal((await json<{ members: unknown[] }>(["org", "member", "list", "acme"])).members, []);

  // Colour only on a terminal, and never with NO_COLOR: `script` gives the CLI a terminal.
  const onTty = (env: Record<string, string>) =>
    execa("script", ["-qec", `${process.execPath} ${floxBin} org list`, "/dev/null"], {
      reject: false,
      env: { XDG_CONFIG_HOME: join(home, "config"), HOME: home, PATH: process.env.PATH ?? "", ...env },
      extendEnv: false,
    });
  const colored = await onTty({});
  assert.match(colored.stdout, escapeCode, "headers are bold on a terminal");
  const plain = await onTty({ NO_COLOR: "1" });
  assert.match(plain.stdout, "acme");
  assert.not.match(plain.stdout, escapeCode, "NO_COLOR turns colour off");

  const logout = await flox(["logout"]);
  assert.is(logout.exitCode, 0, show(logout));
  assert.not.ok(existsSync(configFile));
  const afterLogout = await flox(["org", "list"]);
  assert.is(afterLogout.exitCode, 1, show(afterLogout));
  assert.match(afterLogout.stderr, "no server configured");
});

test("login refuses a token the server does not know, and saves nothing", async () => {
  running ??= await startTestServer();
  const r = await flox(["login", running.url, "--token", `flox_${"b".repeat(43)}`]);
  assert.is(r.exitCode, 1, show(r));
  assert.match(r.stderr, "did not accept the token");
  assert.not.ok(existsSync(join(home, "config", "flox", "config.json")));
});

test.run();
