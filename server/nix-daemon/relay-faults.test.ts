// The shared daemon under faults, end to end: the daemon killed mid-build (restarted; the client gets an error;
// the farm's build goes on), the builder killed mid-build (requeued; the client's build still finishes), and the
// client killed (its builds that nobody else wants are cancelled).
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type BuilderProcess, serverSystem, startBuilderProcess } from "../../testing/builder.js";
import { queryDb } from "../../testing/ci-harness.js";
import {
  helloExpression,
  type RelayWorld,
  runRelayClient,
  startRelayWorld,
} from "../../testing/relay-world.js";
import { waitFor } from "../../testing/wait-for.js";

let w: RelayWorld;
let b2: BuilderProcess | undefined;

test.before(async () => {
  // Short leases: a killed builder's build is requeued within seconds.
  w = await startRelayWorld("flox-relay-faults-", { serverEnv: { FLOX_LEASE_SECONDS: "3" } });
});
test.after(async () => {
  await b2?.stop();
  await w?.stop();
});

const client = async (name: string, script: string) =>
  runRelayClient(w, { dir: await mkdtemp(join(w.tmp, `client-${name}-`)), script });

const explain = (r: { stdout: string; stderr: string }) =>
  `${r.stdout}\n${r.stderr}\n--- server\n${w.srv.stderr()}`;

const buildOf = (tag: string) =>
  queryDb<{ id: number; state: string; attempts: number }>(
    w.srv.dataDir,
    "select id, state, attempts from builds where drv_path like ?",
    `%-${tag}.drv`,
  )[0];

/**
 * A process's arguments as its program sees them. Behind a loader (this repo's Nix 2.26 prefix runs `ld-linux
 * --library-path LIB --argv0 NAME PROGRAM ARGS…`), /proc shows the loader's: NAME and ARGS are what Nix sees.
 */
function programArgv(cmdline: string[]): string[] {
  if (!/\/ld-linux[^/]*\.so[.\d]*$/.test(cmdline[0] ?? "")) return cmdline;
  let i = 1;
  let name: string | undefined;
  for (; i < cmdline.length && cmdline[i]?.startsWith("--"); i++) {
    if (cmdline[i] === "--argv0") name = cmdline[i + 1];
    if (["--argv0", "--library-path", "--preload", "--audit", "--inhibit-rpath"].includes(cmdline[i] ?? ""))
      i++;
  }
  return [name ?? cmdline[i] ?? "", ...cmdline.slice(i + 1)];
}

async function pidsWhere(match: (cmdline: string[], ppid: number) => boolean): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = programArgv(
      (await readFile(`/proc/${name}/cmdline`, "utf8").catch(() => "")).split("\0"),
    );
    const stat = await readFile(`/proc/${name}/stat`, "utf8").catch(() => "");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (match(cmdline, ppid)) out.push(Number(name));
  }
  return out;
}

/** The server's shared nix-daemon (its child running `nix-daemon --daemon`). */
const daemonPid = async () =>
  (
    await pidsWhere((c, ppid) => c[0] === "nix-daemon" && c[1] === "--daemon" && ppid === w.srv.process.pid)
  )[0];

async function expression(tag: string, sleep: number): Promise<string> {
  const file = join(w.tmp, `${tag}.nix`);
  await writeFile(file, helloExpression(w.busybox, tag, { sleep }));
  return file;
}

test("the shared daemon killed mid-build: restarted, and the connection it was serving goes on", async () => {
  const expr = await expression("relay-daemon-killed", 5);
  const running = client("daemon-killed", `out=$(nix-build --no-out-link ${expr}) && "$out/bin/hello"`);
  await waitFor("the build to run on the farm", () => buildOf("relay-daemon-killed")?.state === "running", {
    explain: () => w.srv.stderr(),
  });
  const old = await daemonPid();
  assert.ok(old, "the shared daemon runs");
  process.kill(old as number, "SIGKILL");
  await waitFor("the server to restart the daemon", async () => {
    const pid = await daemonPid();
    return pid !== undefined && pid !== old ? pid : undefined;
  });
  // Each connection has a daemon process of its own (a session of its own, as nix-daemon.service's
  // KillMode=process keeps them): the client's build finishes.
  const r = await running;
  assert.is(r.exitCode, 0, explain(r));
  assert.match(r.stdout, /hello from relay-daemon-killed/);
  // And new connections reach the new daemon.
  const after = await client("daemon-after", `nix-store -q --hash $(nix-build --no-out-link ${expr})`);
  assert.is(after.exitCode, 0, explain(after));
  assert.match(after.stdout, /^sha256:/m);
});

test("the daemon process serving a client killed mid-build: the client gets an error, the farm's build is not lost", async () => {
  const expr = await expression("relay-worker-killed", 6);
  const first = client("worker-killed", `nix-build --no-out-link ${expr}`);
  await waitFor("the build to run on the farm", () => buildOf("relay-worker-killed")?.state === "running");
  // nix-daemon names its client's pid in argv[1] of the process serving it; that client is our forwarder.
  // Only this server's: the processes its current daemon forked.
  const main = await daemonPid();
  const workers = await pidsWhere(
    (c, ppid) => c[0] === "nix-daemon" && /^\d+$/.test(c[1] ?? "") && ppid === main,
  );
  assert.ok(workers.length > 0, "a daemon process serves the connection");
  for (const pid of workers) process.kill(pid, "SIGKILL");
  const r = await first;
  assert.is.not(r.exitCode, 0, explain(r));
  assert.match(r.stderr, /error: /);
  await waitFor("the build to finish anyway", () => buildOf("relay-worker-killed")?.state === "succeeded");
  const again = await client("worker-again", `out=$(nix-build --no-out-link ${expr}) && "$out/bin/hello"`);
  assert.is(again.exitCode, 0, explain(again));
  assert.match(again.stdout, /hello from relay-worker-killed/);
  assert.is(buildOf("relay-worker-killed")?.attempts, 1, "not built again");
});

test("the builder killed mid-build: requeued, and the client's build still finishes", async () => {
  const expr = await expression("relay-builder-killed", 4);
  const running = client("builder-killed", `out=$(nix-build --no-out-link ${expr}) && "$out/bin/hello"`);
  await waitFor("the build to run on b1", () => buildOf("relay-builder-killed")?.state === "running");
  await w.builder.stop("SIGKILL");
  const token = await w.token({ scope: "builder", name: "b2" });
  b2 = startBuilderProcess(w.srv, {
    name: "b2",
    token: token.secret,
    store: join(w.tmp, "store-b2"),
    system: await serverSystem(w.srv.dataDir),
  });
  const r = await running;
  assert.is(r.exitCode, 0, explain(r));
  assert.match(r.stdout, /hello from relay-builder-killed/);
  const build = buildOf("relay-builder-killed");
  assert.is(build?.state, "succeeded");
  assert.ok((build?.attempts ?? 0) >= 2, "a second attempt after the lease was lost");
  const [result] = queryDb<{ builder: string }>(
    w.srv.dataDir,
    "select builder from build_results where build_id = ?",
    build?.id,
  );
  assert.is(result?.builder, "b2");
});

test("the client killed: builds nobody else wants are cancelled", async () => {
  const expr = await expression("relay-abandoned", 60);
  const abandoned = client("abandoned", `nix-build --no-out-link ${expr}`);
  await waitFor("the build to be queued or run", () => buildOf("relay-abandoned") !== undefined);
  const [nixBuild] = await pidsWhere((c) => c[0] === "nix-build" && c.includes(expr));
  assert.ok(nixBuild, "the client's nix-build runs");
  process.kill(nixBuild as number, "SIGKILL");
  await abandoned;
  await waitFor("the build to be cancelled", () => buildOf("relay-abandoned")?.state === "cancelled", {
    timeoutMs: 30_000,
    explain: () => `${JSON.stringify(buildOf("relay-abandoned"))}\n${w.srv.stderr()}`,
  });
  const [session] = queryDb<{ end_reason: string }>(
    w.srv.dataDir,
    "select s.end_reason from relay_sessions s join relay_wants r on r.session_id = s.id where r.build_id = ?",
    buildOf("relay-abandoned")?.id,
  );
  assert.is(session?.end_reason, "client");
});

test("a client killed while another asks for the same derivation: the other still gets it", async () => {
  const expr = await expression("relay-half-abandoned", 6);
  const staying = client("staying", `out=$(nix-build --no-out-link ${expr}) && "$out/bin/hello"`);
  const leaving = client("leaving", `nix-build --quiet --no-out-link ${expr}`);
  await waitFor("the build to run", () => buildOf("relay-half-abandoned")?.state === "running");
  const [pid] = await pidsWhere((c) => c[0] === "nix-build" && c.includes("--quiet") && c.includes(expr));
  assert.ok(pid, "the leaving client's nix-build runs");
  process.kill(pid as number, "SIGKILL");
  await leaving;
  // Whichever of the two held Nix's lock on the output, the one that stays gets the result: the build goes on for
  // its want, or, when the one that left held the lock (the server saw only its want and cancelled the build), the
  // other asks when the lock frees and the cancelled build is queued again.
  const r = await staying;
  assert.is(r.exitCode, 0, explain(r));
  assert.match(r.stdout, /hello from relay-half-abandoned/);
  assert.is(buildOf("relay-half-abandoned")?.state, "succeeded");
});

test("flox daemon: while the server is away a connection waits for it, and goes through once it is back", async () => {
  // The server "away": a TCP proxy in front of it that is closed, then opened again on the same port.
  const target = new URL(w.srv.url);
  const open = new Set<Socket>();
  const proxy = createServer((inbound) => {
    const outbound = connect(Number(target.port), target.hostname);
    open.add(inbound);
    inbound.on("close", () => open.delete(inbound));
    inbound.pipe(outbound).pipe(inbound);
    inbound.on("error", () => outbound.destroy());
    outbound.on("error", () => inbound.destroy());
  });
  await new Promise<void>((ok) => proxy.listen(0, "127.0.0.1", ok));
  const port = (proxy.address() as AddressInfo).port;
  const socket = join(w.tmp, "away.sock");
  const daemon = execa(
    process.execPath,
    [
      "cli/bin/flox",
      "--server",
      `http://127.0.0.1:${port}`,
      "daemon",
      "--socket",
      socket,
      "--daemon-token",
      w.member,
    ],
    { reject: false, all: true },
  );
  try {
    await waitFor("flox daemon to serve its socket", () => existsSync(socket));
    await new Promise<void>((ok) => {
      proxy.close(() => ok());
      for (const s of open) s.destroy();
    });
    const file = join(w.tmp, "while-away.txt");
    await writeFile(file, "added while the server was away\n");
    const adding = execa("nix-store", ["--add", file], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NIX_REMOTE: `unix://${socket}`, HOME: w.tmp },
      extendEnv: false,
      reject: false,
    });
    await new Promise((r) => setTimeout(r, 2000));
    assert.is(adding.exitCode, null, "the connection waits while the server is away");
    await new Promise<void>((ok) => proxy.listen(port, "127.0.0.1", ok));
    const added = await adding;
    assert.is(added.exitCode, 0, String(added.stderr));
    assert.match(String(added.stdout), /^\/nix\/store\/[0-9a-z]{32}-while-away\.txt$/);
  } finally {
    daemon.kill("SIGTERM");
    const ran = await daemon;
    proxy.close();
    for (const s of open) s.destroy();
    assert.match(String(ran.all), /is unreachable .*retrying/);
    assert.match(String(ran.all), /is back; relaying/);
  }
});

test.run();
