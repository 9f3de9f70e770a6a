// Issue 18: `flox agent` never leaves its mount behind when it is asked to go (a stale mount at /nix/store breaks
// every program with "Transport endpoint is not connected"), and a mount a killed agent left is cleared by the
// next. Real signals, a real FUSE mount, a real server (behind a proxy that can stall NAR downloads), real Nix.
// Needs root and /dev/fuse.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, request, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { projectRoot } from "../lib/project-root.js";
import {
  type AgentProcess,
  copyToServer,
  forceUnmount,
  isMounted,
  type ServerProcess,
  startAgent,
  startServer,
} from "../testing/agent.js";
import { createNixTestStore, type NixTestStore } from "../testing/nix-store.js";
import { waitFor } from "../testing/wait-for.js";

const root = mkdtempSync(join(tmpdir(), "flox-agent-exits-"));
const mounts: string[] = [];
const agents: AgentProcess[] = [];
let server: ServerProcess;
let src: NixTestStore;
let path: string;
let proxy: Server;
let proxyUrl: string;
/** NAR downloads the proxy holds instead of answering: a fetch in flight for as long as the test wants. */
const stalled: ServerResponse[] = [];

process.on("exit", () => {
  for (const mount of mounts) {
    try {
      execFileSync("fusermount", ["-uz", mount], { stdio: "ignore" });
    } catch {}
  }
});

test.before(async () => {
  server = await startServer();
  src = await createNixTestStore();
  path = await src.buildOne(`run "flox-exits-data" "mkdir -p $out; seq 1 20000 > $out/numbers"`);
  await copyToServer(src, server, [path], "none");
  // Everything passes through, except NAR bodies: those are never answered.
  proxy = createServer((req, res) => {
    if (req.url?.startsWith("/cache/nar/")) {
      stalled.push(res);
      return;
    }
    const up = request(`${server.url}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((ok) => proxy.listen(0, "127.0.0.1", ok));
  const address = proxy.address();
  proxyUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
});

test.after(async () => {
  for (const agent of agents) await agent.stop();
  for (const res of stalled) res.destroy();
  proxy.closeAllConnections();
  await new Promise((ok) => proxy.close(ok));
  for (const mount of mounts) await forceUnmount(mount);
  await server?.stop();
  await src?.cleanup();
  rmSync(root, { recursive: true, force: true });
});

async function agentAt(name: string, serverUrl = proxyUrl): Promise<AgentProcess> {
  const mount = join(root, `${name}-mnt`);
  mounts.push(mount);
  const agent = await startAgent(serverUrl, { mount, cacheDir: join(root, `${name}-cache`) }, [
    "--request-timeout",
    "300",
  ]);
  agents.push(agent);
  assert.ok(await isMounted(agent.mount));
  return agent;
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

test("SIGTERM while a slow fetch is in flight: the mount is gone within 10 s and the agent exits", async () => {
  const agent = await agentAt("inflight");
  const before = stalled.length;
  // A reader blocked in the mount on a NAR the proxy never sends: a FUSE open and a fetch in flight.
  const reader = spawn("cat", [join(agent.mount, path.slice("/nix/store/".length), "numbers")], {
    stdio: "ignore",
  });
  try {
    await waitFor("the NAR fetch to reach the proxy", () => stalled.length > before, {
      explain: () => agent.stderr(),
    });
    assert.ok(!exited(reader), "the reader should still be waiting on the fetch");
    agent.child.kill("SIGTERM");
    // The bound: a mount at /nix/store must not outlive a SIGTERM by more than this.
    await waitFor("the mount to be gone", async () => !(await isMounted(agent.mount)), {
      timeoutMs: 10_000,
      intervalMs: 100,
      explain: () => agent.stderr(),
    });
    await waitFor("the agent to exit", () => exited(agent.child), {
      timeoutMs: 60_000,
      explain: () => agent.stderr(),
    });
    assert.match(agent.stderr(), `stopping: unmount ${agent.mount}: unmounted`);
  } finally {
    reader.kill("SIGKILL");
  }
});

test("SIGTERM, SIGINT, SIGHUP with the agent's stdout and stderr reader gone: it still unmounts", async () => {
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    const agent = await agentAt(`noreader-${signal}`);
    // As when `npm run demo` was killed first: the pipes the agent logs to have no reader any more, so its
    // first log line raises EPIPE (which used to end it before it unmounted).
    agent.child.stdout?.destroy();
    agent.child.stderr?.destroy();
    agent.child.kill(signal);
    await waitFor(`the agent to exit on ${signal}`, () => exited(agent.child), { timeoutMs: 60_000 });
    assert.not.ok(await isMounted(agent.mount), `${signal} left ${agent.mount} mounted`);
    assert.is(agent.child.exitCode, 0, `${signal}: exit ${agent.child.exitCode} ${agent.child.signalCode}`);
  }
});

test("kill -9 leaves a stale mount; the next agent at the same mount point clears it and serves", async () => {
  const first = await agentAt("stale", server.url);
  first.child.kill("SIGKILL");
  await waitFor("the agent to die", () => exited(first.child));
  assert.ok(await isMounted(first.mount), "a SIGKILLed agent cannot unmount: the mount should be stale");
  const dead = await stat(first.mount).then(
    () => "answers",
    (err: NodeJS.ErrnoException) => err.code,
  );
  assert.is(dead, "ENOTCONN");
  const next = await startAgent(server.url, { mount: first.mount, cacheDir: join(root, "stale-cache") });
  agents.push(next);
  assert.match(next.stderr(), `cleared a stale mount at ${first.mount}`);
  const st = await stat(join(first.mount, path.slice("/nix/store/".length), "numbers"));
  assert.ok(st.size > 0, "the new agent should serve the mount");
});

test("an agent refuses a mount point a live agent serves, saying so", async () => {
  const live = await agentAt("live", server.url);
  const second = spawn(
    process.execPath,
    [
      join(projectRoot, "cli/bin/flox"),
      "--server",
      server.url,
      "agent",
      "--mount",
      live.mount,
      "--cache-dir",
      join(root, "live-cache-2"),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  second.stderr?.setEncoding("utf8").on("data", (c: string) => {
    stderr += c;
  });
  const code = await new Promise<number | null>((ok) => second.once("exit", (c) => ok(c)));
  assert.is.not(code, 0);
  assert.match(stderr, "already mounted by a running flox agent");
  assert.ok(await isMounted(live.mount), "the live agent's mount must be left alone");
  assert.ok((await stat(live.mount)).isDirectory());
});

test.run();
