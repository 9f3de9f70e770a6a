// The shared daemon's trust rules, end to end: every relayed client is an untrusted Nix user (unsigned
// input-addressed paths refused, restricted settings ignored), tokens that may not build are refused before a
// single daemon byte, and two orgs share outputs by hash while neither reads the other's activity.
import { existsSync } from "node:fs";
import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import { request } from "node:http";
import type { Socket } from "node:net";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { queryDb, runFlox } from "../../testing/ci-harness.js";
import { createNixTestStore, type NixTestStore } from "../../testing/nix-store.js";
import {
  helloExpression,
  type RelayWorld,
  runRelayClient,
  startRelayWorld,
} from "../../testing/relay-world.js";
import { waitFor } from "../../testing/wait-for.js";

let w: RelayWorld;
let src: NixTestStore;

test.before(async () => {
  // Two connections per token at most, so the limit is reached by hand.
  w = await startRelayWorld("flox-relay-trust-", { serverEnv: { FLOX_RELAY_MAX_CONNECTIONS: "2" } });
  src = await createNixTestStore();
});
test.after(async () => {
  await src?.cleanup();
  await w?.stop();
});

const client = async (name: string, script: string, socket = w.socket) =>
  runRelayClient({ ...w, socket }, { dir: await mkdtemp(join(w.tmp, `client-${name}-`)), script });

const explain = (r: { stdout: string; stderr: string }) =>
  `${r.stdout}\n${r.stderr}\n--- server\n${w.srv.stderr()}`;

/** A raw `GET /nix-daemon` upgrade: the status and body the server answered; `keep` holds a switched one open. */
function upgrade(token: string | null, keep?: Socket[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${w.srv.url}/nix-daemon`, {
      headers: {
        connection: "Upgrade",
        upgrade: "nix-daemon",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
    });
    req.once("upgrade", (res, socket) => {
      if (keep) keep.push(socket);
      else socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: "" });
    });
    req.once("response", (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (c: string) => {
        body += c;
      });
      res.once("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once("error", reject);
    req.end();
  });
}

const sessionCount = () =>
  queryDb<{ n: number }>(w.srv.dataDir, "select count(*) as n from relay_sessions")[0]?.n;

test("an unsigned input-addressed path sent through the relay is refused (nix-store --import, nix copy --to)", async () => {
  const p = await src.buildOne(`run "relay-unsigned" "echo not signed by the server > $out"`);
  const nar = join(w.tmp, "unsigned.export");
  await execa("sh", ["-c", `nix-store --export ${p} > ${nar}`], { env: src.env, extendEnv: false });
  const imported = await client("import", `nix-store --import < ${nar}`);
  assert.is.not(imported.exitCode, 0, explain(imported));
  // "lacks a valid signature" (2.8), "lacks a signature by a trusted key" (2.26).
  const unsigned = /lacks a (valid )?signature/;
  assert.match(imported.stderr, unsigned);
  const copied = await execa(
    "nix",
    ["--extra-experimental-features", "nix-command", "copy", "--to", `unix://${w.socket}`, p],
    { env: src.env, extendEnv: false, reject: false },
  );
  assert.is.not(copied.exitCode, 0, String(copied.stderr));
  assert.match(String(copied.stderr), unsigned);
  const valid = await client("valid", `nix-store --check-validity ${p}`);
  assert.is.not(valid.exitCode, 0, "the path is not in the shared store");
});

test("a client's post-build-hook is ignored (a restricted setting of an untrusted user)", async () => {
  const marker = join(w.tmp, "post-build-hook-ran");
  const hook = join(w.tmp, "evil-hook.sh");
  await writeFile(hook, `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
  const expr = join(w.tmp, "hooked.nix");
  await writeFile(expr, helloExpression(w.busybox, "relay-hooked"));
  const r = await client(
    "hooked",
    `nix-build --debug --no-out-link --option post-build-hook ${hook} ${expr}`,
  );
  assert.is(r.exitCode, 0, explain(r));
  // Nix 2.8's daemon says so at debug level (the client asked for it with --debug).
  assert.match(
    r.stderr,
    /ignoring the client-specified setting 'post-build-hook', because it is a restricted setting/,
  );
  assert.not.ok(existsSync(marker), "the daemon ran the client's post-build-hook");
});

/** The farm's build of the derivation named `tag`, as acme's member reads it. */
async function farmBuild(tag: string): Promise<{ builder: string | null; state: string } | undefined> {
  const r = await w.srv.api("GET", "/api/v1/builds?limit=1000", undefined, w.member);
  assert.is(r.status, 200, JSON.stringify(r.body));
  return r.body.builds.find((b: { drvPath: string }) => b.drvPath.endsWith(`-${tag}.drv`));
}

test("no build runs on the server: preferLocalBuild, --max-jobs 4 and --option max-jobs 4 still build on the farm", async () => {
  // preferLocalBuild keeps a derivation from the hook whenever Nix thinks it could build it here, and every client
  // sends its own max-jobs (applied even for an untrusted one): together, what a client can do to ask for a local
  // build. Each still goes to the hook, which Nix shows by naming its machine, and is built by b1.
  for (const { tag, flags } of [
    { tag: "relay-prefer-local", flags: "" },
    { tag: "relay-max-jobs", flags: "--max-jobs 4" },
    { tag: "relay-option-max-jobs", flags: "--option max-jobs 4" },
  ]) {
    const expr = join(w.tmp, `${tag}.nix`);
    await writeFile(
      expr,
      helloExpression(w.busybox, tag, { attrs: "preferLocalBuild = true; allowSubstitutes = false;" }),
    );
    const r = await client(tag, `out=$(nix-build --no-out-link ${flags} ${expr}) && "$out/bin/hello"`);
    assert.is(r.exitCode, 0, explain(r));
    assert.match(r.stdout, `hello from ${tag}`);
    assert.match(r.stderr, new RegExp(`building '/nix/store/[0-9a-z]{32}-${tag}\\.drv' on 'flox-farm'`));
    const build = await farmBuild(tag);
    assert.is(build?.builder, "b1", `${tag}: ${JSON.stringify(build)}`);
    assert.is(build?.state, "succeeded");
  }
});

test("what would still build on the server fails: a builtin preferLocalBuild derivation, nix-build --check", async () => {
  // A `builtin:` derivation is one Nix can build anywhere; with preferLocalBuild it never reaches the hook. Here it
  // would fetch a file as root on the server; Nix stops at the build user it cannot have.
  const expr = join(w.tmp, "builtin-local.nix");
  await writeFile(
    expr,
    `derivation {
  name = "relay-builtin-local";
  system = "builtin";
  builder = "builtin:fetchurl";
  url = "file:///etc/hostname";
  outputHashMode = "flat";
  outputHashAlgo = "sha256";
  outputHash = "${"0".repeat(52)}";
  executable = false;
  unpack = false;
  preferLocalBuild = true;
}
`,
  );
  const noUser = /the group 'flox-no-local-builds' specified in 'build-users-group' does not exist/;
  const builtin = await client("builtin-local", `nix-build --no-out-link --max-jobs 4 ${expr}`);
  assert.is.not(builtin.exitCode, 0, explain(builtin));
  assert.match(builtin.stderr, noUser, explain(builtin));
  const shared = join(w.srv.dataDir, "nix-daemon", "root", "nix", "store");
  assert.not.ok(
    (await readdir(shared)).some((e) => e.endsWith("-relay-builtin-local")),
    "nothing was fetched into the shared store",
  );
  assert.is(await farmBuild("relay-builtin-local"), undefined, "not the farm's either");

  // --check rebuilds what is already valid, which only a local build can do (Nix never asks the hook for it).
  const checkExpr = join(w.tmp, "checked.nix");
  await writeFile(checkExpr, helloExpression(w.busybox, "relay-checked"));
  const check = await client(
    "checked",
    `nix-build --no-out-link ${checkExpr} && nix-build --check --no-out-link ${checkExpr}`,
  );
  assert.is.not(check.exitCode, 0, explain(check));
  assert.match(check.stdout, /-relay-checked$/m, "the first build went through");
  assert.match(check.stderr, noUser, explain(check));
});

test("no token, a revoked token, a reader and a machine token (until the org allows it) are refused before the handshake", async () => {
  const before = sessionCount();
  const reader = await w.token({ scope: "org", org: "acme", role: "reader" });
  const revoked = await w.token({ scope: "org", org: "acme", role: "member" });
  assert.is((await w.srv.api("DELETE", `/api/v1/tokens/${revoked.id}`)).status, 204);
  const machine = await w.token({ scope: "machine", org: "acme", name: "edge-1" });

  const none = await upgrade(null);
  assert.is(none.status, 401);
  assert.match(none.body, /no token given/);
  const gone = await upgrade(revoked.secret);
  assert.is(gone.status, 401);
  assert.match(gone.body, /revoked/);
  const read = await upgrade(reader.secret);
  assert.is(read.status, 403);
  assert.match(read.body, /role there is reader; member is needed/);
  const off = await upgrade(machine.secret);
  assert.is(off.status, 403);
  assert.match(off.body, /--machine-builds on/);
  assert.is(sessionCount(), before, "a refused request opened no daemon connection");

  // `flox daemon` with a refused token says so in one line and exits, instead of serving a socket that hangs.
  const refused = await runFlox(w.srv.url, reader.secret, w.tmp, [
    "daemon",
    "--socket",
    join(w.tmp, "reader.sock"),
  ]);
  assert.is(refused.exitCode, 1);
  assert.match(refused.stderr, /refused the daemon connection: HTTP 403: .*member is needed/);

  const owner = await w.token({ scope: "org", org: "acme", role: "owner" });
  const set = await runFlox(w.srv.url, owner.secret, w.tmp, ["org", "set", "acme", "--machine-builds", "on"]);
  assert.is(set.exitCode, 0, set.stderr);
  assert.match(set.stdout, /machine builds on/);
  const on = await upgrade(machine.secret);
  assert.is(on.status, 101, on.body);
  const member = await upgrade(w.member);
  assert.is(member.status, 101, member.body);

  // Connections are counted per token: past the limit (2 here) the answer is 429 until one closes.
  await waitFor("the connections above to end", () => {
    const open = queryDb<{ n: number }>(
      w.srv.dataDir,
      "select count(*) as n from relay_sessions where ended_at is null",
    );
    return open[0]?.n === 0;
  });
  const held: Socket[] = [];
  try {
    assert.is((await upgrade(w.member, held)).status, 101);
    assert.is((await upgrade(w.member, held)).status, 101);
    const third = await upgrade(w.member);
    assert.is(third.status, 429);
    assert.match(third.body, /holds 2 daemon connections already/);
    held.pop()?.destroy();
    await waitFor(
      "the closed connection to be counted off",
      async () => (await upgrade(w.member)).status === 101,
    );
  } finally {
    for (const s of held) s.destroy();
  }
});

test("two orgs share an output by hash, but neither reads the other's activity", async () => {
  const acmeExpr = join(w.tmp, "shared.nix");
  await writeFile(acmeExpr, helloExpression(w.busybox, "relay-shared"));
  const first = await client("acme-shared", `nix-build --no-out-link ${acmeExpr}`);
  assert.is(first.exitCode, 0, explain(first));

  const other = await w.token({ scope: "org", org: "other", role: "member", name: "bob-laptop" });
  const socket = join(w.tmp, "other.sock");
  const daemon = execa(
    process.execPath,
    ["cli/bin/flox", "--server", w.srv.url, "daemon", "--socket", socket, "--daemon-token", other.secret],
    { reject: false },
  );
  try {
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 100));
    const second = await client(
      "other-shared",
      `out=$(nix-build --no-out-link ${acmeExpr}) && "$out/bin/hello"`,
      socket,
    );
    assert.is(second.exitCode, 0, explain(second));
    assert.match(second.stdout, /hello from relay-shared/);
    assert.not.match(second.stderr, /building relay-shared on the farm/, "not built again for the other org");
  } finally {
    daemon.kill("SIGTERM");
    await daemon;
  }
  const rows = queryDb<{ attempts: number }>(
    w.srv.dataDir,
    "select attempts from builds where drv_path like '%-relay-shared.drv'",
  );
  assert.equal(rows, [{ attempts: 1 }]);

  const acmeLog = await w.srv.api("GET", "/api/v1/orgs/acme/relay-sessions", undefined, other.secret);
  assert.is(acmeLog.status, 404, "another org's activity is as good as missing");
  const otherLog = await w.srv.api("GET", "/api/v1/orgs/other/relay-sessions", undefined, w.member);
  assert.is(otherLog.status, 404);
  const own = await w.srv.api("GET", "/api/v1/orgs/other/relay-sessions", undefined, other.secret);
  assert.is(own.status, 200);
  assert.ok(own.body.sessions.every((s: { actor: string }) => s.actor === "bob-laptop"));
  // The other org got the output by substitution (by hash); acme's build and who asked for it stay acme's.
  const list = await w.srv.api("GET", "/api/v1/builds", undefined, other.secret);
  assert.not.ok(
    list.body.builds.some((b: { drvPath: string }) => b.drvPath.endsWith("-relay-shared.drv")),
    "acme's build is not listed for the other org",
  );
  const [row] = queryDb<{ id: number }>(
    w.srv.dataDir,
    "select id from builds where drv_path like '%-relay-shared.drv'",
  );
  assert.is((await w.srv.api("GET", `/api/v1/builds/${row?.id}`, undefined, other.secret)).status, 404);
});

test.run();
