// `flox agent` must go away on SIGTERM whatever state its mount and its server are in: a supervisor stopping it
// after someone ran `umount -l` and the server went down would otherwise wait forever. Needs root and /dev/fuse.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type AgentProcess, forceUnmount, isMounted, sh, startAgent, startServer } from "../testing/agent.js";
import { waitFor } from "../testing/wait-for.js";

const root = mkdtempSync(join(tmpdir(), "flox-agent-stop-"));
const started: { mount: string; agent: AgentProcess }[] = [];

// Last resort: never leave a mount behind, whatever happened.
process.on("exit", () => {
  for (const { mount } of started) {
    try {
      execFileSync("fusermount", ["-uz", mount], { stdio: "ignore" });
    } catch {}
  }
});

test.after(async () => {
  for (const { agent } of started) await agent.stop();
  rmSync(root, { recursive: true, force: true });
});

/** A fresh server and an agent mounting its Storehouse; the server is stopped by the test. */
async function agentOfStoppedServer(name: string) {
  const server = await startServer();
  const mount = join(root, `${name}-mnt`);
  const agent = await startAgent(server.url, { mount, cacheDir: join(root, `${name}-cache`) }, [
    "--request-timeout",
    "3",
  ]);
  started.push({ mount, agent });
  assert.ok(await isMounted(mount));
  await server.stop();
  return { mount, agent };
}

/** SIGTERM, then a generous wait for the process to end on its own (the helper's stop() would SIGKILL it). */
async function exitsOnSigterm(agent: AgentProcess): Promise<void> {
  agent.child.kill("SIGTERM");
  await waitFor("the agent to exit after SIGTERM", () => agent.child.exitCode !== null, {
    timeoutMs: 60_000,
    explain: () => agent.stderr(),
  });
}

test("SIGTERM stops an agent whose mount was lazily unmounted and whose server is gone", async () => {
  const { mount, agent } = await agentOfStoppedServer("lazy");
  const umount = await sh(`umount -l ${mount}`);
  assert.is(umount.exitCode, 0, umount.stderr);
  assert.not.ok(await isMounted(mount));
  await exitsOnSigterm(agent);
  assert.match(agent.stderr(), `stopping: unmount ${mount}: already unmounted`);
  assert.is(agent.child.exitCode, 0, agent.stderr());
});

test("SIGTERM stops an agent whose mount is still in use and whose server is gone", async () => {
  const { mount, agent } = await agentOfStoppedServer("busy");
  // A process with its working directory in the mount keeps it busy: a plain unmount fails.
  const holder = spawn("sleep", ["300"], { cwd: mount, stdio: "ignore" });
  await new Promise((ok, fail) => holder.once("spawn", ok).once("error", fail));
  try {
    const busy = await sh(`umount ${mount}`);
    assert.is.not(busy.exitCode, 0, "the mount should be busy");
    await exitsOnSigterm(agent);
    // A plain unmount fails on a busy mount; the agent then detaches it lazily rather than leave it behind.
    assert.match(agent.stderr(), `stopping: unmount ${mount}: unmounted lazily`);
    assert.not.ok(await isMounted(mount), "the busy mount should be gone from the namespace");
  } finally {
    holder.kill("SIGKILL");
    await forceUnmount(mount);
  }
});

test.run();
