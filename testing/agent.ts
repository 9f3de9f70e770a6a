// Test helpers for the agent: a real `flox server` process (through the CLI, as a remote machine sees it),
// store paths built by a real Nix and uploaded with `nix copy --to`, and FUSE mounts that never outlive a test.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { execa } from "execa";
import { projectRoot } from "../lib/project-root.js";
import type { NixTestStore } from "./nix-store.js";

export const ADMIN = `flox_test-admin-${"0".repeat(32)}`;
const cliBin = join(projectRoot, "cli", "bin", "flox");

export interface ServerProcess {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
}

/** `flox server` on `dataDir` (a fresh temp dir by default; kept when given) and `port` (0 = any). */
export async function startServer(dataDir?: string, port = 0): Promise<ServerProcess> {
  const own = dataDir === undefined;
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "flox-agent-server-"));
  const child = spawn(
    cliBin,
    ["server", "--data-dir", dir, "--listen", `127.0.0.1:${port}`, "--admin-token", ADMIN],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (c: string) => {
    stderr += c;
  });
  const url = await firstLine(child, /^flox server listening on (http:\/\/\S+)$/, () => stderr);
  const exited = new Promise<void>((ok) => child.once("exit", () => ok()));
  return {
    url,
    port: Number(new URL(url).port),
    dataDir: dir,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      // Past the server's 10 s grace: it kills its own children before it exits.
      const kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(kill);
      if (own) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function firstLine(
  child: ChildProcess,
  re: RegExp,
  stderr: () => string,
  timeoutMs = 30_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const timer = setTimeout(
      () => reject(new Error(`no start line within ${timeoutMs} ms: ${stderr()}`)),
      timeoutMs,
    );
    lines.once("line", (line) => {
      clearTimeout(timer);
      const m = re.exec(line);
      if (m?.[1]) resolve(m[1]);
      else reject(new Error(`unexpected first line ${JSON.stringify(line)}: ${stderr()}`));
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before starting: ${stderr()}`));
    });
  });
}

/** Uploads `paths` (with their closures) from `src` to the server with a real `nix copy --to`. */
export async function copyToServer(
  src: NixTestStore,
  server: ServerProcess,
  paths: readonly string[],
  compression: "none" | "br" | "gzip" = "br",
): Promise<void> {
  const res = await fetch(`${server.url}/api/v1/tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ scope: "builder" }),
  });
  const { secret } = (await res.json()) as { secret: string };
  const netrc = join(src.dir, "netrc");
  await writeFile(netrc, `machine 127.0.0.1 login x password ${secret}\n`);
  await src.run("nix", [
    "copy",
    "--option",
    "netrc-file",
    netrc,
    "--to",
    `${server.url}/cache?compression=${compression}`,
    ...paths,
  ]);
}

/** A stock Nix client fetching `storePath` (and its closure) from the server's Storehouse, trusting its key. */
export async function substituteWithNix(
  client: NixTestStore,
  server: ServerProcess,
  storePath: string,
): Promise<void> {
  const key = (await (await fetch(`${server.url}/cache/public-key`)).text()).trim();
  await client.substitute(`${server.url}/cache`, key, [storePath]);
}

export interface AgentProcess {
  mount: string;
  cacheDir: string;
  child: ChildProcess;
  stderr(): string;
  status(): Promise<AgentStatusJson>;
  /** SIGTERM and wait; then `fusermount -uz` in case it left the mount behind (teardown must not leak mounts). */
  stop(): Promise<number | null>;
}

// biome-ignore lint/suspicious/noExplicitAny: tests read the status JSON's fields freely
export type AgentStatusJson = any;

/** `flox agent` as a child process (the test must never touch the mount from the agent's own event loop). */
export async function startAgent(
  serverUrl: string,
  dirs: { mount: string; cacheDir: string },
  extra: string[] = [],
): Promise<AgentProcess> {
  // The bin itself, as users run it (its sh line tunes malloc before Node starts).
  const child = spawn(
    cliBin,
    ["--server", serverUrl, "agent", "--mount", dirs.mount, "--cache-dir", dirs.cacheDir, ...extra],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (c: string) => {
    stderr += c;
  });
  const exited = new Promise<number | null>((ok) => child.once("exit", (code) => ok(code)));
  try {
    await firstLine(child, /^flox agent: (.*) mounted at /, () => stderr);
  } catch (err) {
    child.kill("SIGKILL");
    await forceUnmount(dirs.mount);
    throw err;
  }
  const socket = join(dirs.cacheDir, "agent.sock");
  return {
    ...dirs,
    child,
    stderr: () => stderr,
    async status() {
      const { stdout } = await execa("curl", ["-sf", "--unix-socket", socket, "http://agent/status"]);
      return JSON.parse(stdout);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const code = await exited;
      clearTimeout(kill);
      await forceUnmount(dirs.mount);
      return code;
    },
  };
}

export async function forceUnmount(mount: string): Promise<void> {
  if (await isMounted(mount)) await execa("fusermount", ["-uz", mount], { reject: false });
}

export async function isMounted(mount: string): Promise<boolean> {
  const { stdout } = await execa("cat", ["/proc/self/mounts"]);
  return stdout.split("\n").some((l) => l.split(" ")[1] === mount);
}

/** Runs a shell snippet in a child process (never in the agent's process), with a time limit. */
export async function sh(script: string, timeoutMs = 30_000) {
  return execa("sh", ["-c", script], { reject: false, timeout: timeoutMs });
}
