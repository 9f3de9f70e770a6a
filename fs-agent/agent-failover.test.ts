// The agent given `--server DEAD,LIVE` (the first URL a port nobody listens on): it mounts, and a read through
// the mount fetches the path from the live server. Needs root and /dev/fuse, like agent.test.ts.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type AgentProcess,
  copyToServer,
  forceUnmount,
  type ServerProcess,
  startAgent,
  startServer,
} from "../testing/agent.js";
import { createNixTestStore, type NixTestStore } from "../testing/nix-store.js";

const root = mkdtempSync(join(tmpdir(), "flox-agent-failover-"));
const mnt = join(root, "mnt");
let server: ServerProcess;
let src: NixTestStore;
let agent: AgentProcess | undefined;

process.on("exit", () => {
  try {
    execFileSync("fusermount", ["-uz", mnt], { stdio: "ignore" });
  } catch {}
});

async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

test.before(async () => {
  server = await startServer();
  src = await createNixTestStore();
});

test.after(async () => {
  await agent?.stop();
  await forceUnmount(mnt);
  await server?.stop();
  await src?.cleanup();
  rmSync(root, { recursive: true, force: true });
});

test("an agent given --server DEAD,LIVE mounts and fetches from the live server", async () => {
  const path = await src.buildOne(
    `run "flox-failover-file" "mkdir -p $out; echo from the live server > $out/f"`,
  );
  await copyToServer(src, server, [path], "none");
  agent = await startAgent(`${await deadUrl()},${server.url}`, { mount: mnt, cacheDir: join(root, "cache") });
  const name = path.slice("/nix/store/".length);
  assert.is(readFileSync(join(mnt, name, "f"), "utf8"), "from the live server\n");
});

test.run();
