// End-to-end harness: runs the real `flox server` process (compiled CLI) on a temp data dir and a free port.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { projectRoot } from "../lib/project-root.js";
import { databaseOfDataDir, testingOnPostgres, testPostgres } from "./postgres.js";

export interface TestServerOptions {
  /** Secret of the admin token (default: a fixed test secret). null starts without --admin-token. */
  adminToken?: string | null;
  /** Use this data dir and leave it in place on stop() (default: a fresh temp dir, removed on stop()). */
  dataDir?: string;
  /** Extra arguments after `flox server …`, e.g. ["--max-file-size", "1000"]. */
  args?: string[];
  /** Extra environment for the server process. */
  env?: Record<string, string>;
  /** How long to wait for the URL line, default 30 s. */
  startTimeoutMs?: number;
}

export interface ApiAnswer {
  status: number;
  /** Parsed JSON, or undefined for an empty body. Tests poke at fields freely; parse with a schema to be sure. */
  // biome-ignore lint/suspicious/noExplicitAny: test code reads answers of every shape, checked by assertions
  body: any;
  headers: Headers;
}

export interface TestServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  adminToken: string;
  dataDir: string;
  process: ChildProcess;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  /** A JSON API call; `token` defaults to the admin token, null sends none. `path` starts with /api/v1. */
  api(method: string, path: string, body?: unknown, token?: string | null): Promise<ApiAnswer>;
  /** The clone URL with `token` as password: `http://x:TOKEN@127.0.0.1:PORT/<org>/nixexprs.git`. */
  gitUrl(org: string, token?: string): string;
  /** SIGTERM, wait for exit (SIGKILL after 30 s), remove the temp data dir unless it was given. Returns the exit code. */
  stop(): Promise<number | null>;
}

/** Shaped like a real secret (`flox_` + 43 base64url characters), so clients that check the shape accept it. */
export const TEST_ADMIN_TOKEN = `flox_test-admin-${"0".repeat(32)}`;

const cliBin = join(projectRoot, "cli", "bin", "flox");

export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  if (!existsSync(join(projectRoot, "dist", "cli", "main.js"))) {
    throw new Error("the CLI is not built; run `npx tsc -p tsconfig.json` first");
  }
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "flox-server-test-"));
  const adminToken = opts.adminToken === undefined ? TEST_ADMIN_TOKEN : opts.adminToken;
  const args = ["server", "--data-dir", dataDir, "--listen", "127.0.0.1:0", ...(opts.args ?? [])];
  // FLOX_TEST_DATABASE=postgres: a fresh database of the run's throwaway PostgreSQL (a restart on the same data
  // dir keeps its database).
  if (testingOnPostgres() && !args.includes("--database")) {
    let url = databaseOfDataDir.get(dataDir);
    if (!url) {
      url = (await testPostgres()).createDatabase();
      databaseOfDataDir.set(dataDir, url);
    }
    args.push("--database", url);
  }
  if (adminToken !== null) args.push("--admin-token", adminToken);
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  if (!opts.env?.FLOX_ADMIN_TOKEN) delete env.FLOX_ADMIN_TOKEN;

  // The bin itself, as users run it (its sh line tunes malloc before Node starts).
  const child = spawn(cliBin, args, { cwd: projectRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  const cleanup = () => {
    // Retries: a child the server killed at shutdown may still be letting go of a file for a moment.
    if (ownDir) rmSync(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  };

  let url: string;
  try {
    url = await new Promise<string>((resolve, reject) => {
      if (!child.stdout) throw new Error("spawn gave no stdout pipe");
      const lines = createInterface({ input: child.stdout });
      const timer = setTimeout(() => {
        reject(
          new Error(
            `flox server printed no URL within ${opts.startTimeoutMs ?? 30_000} ms; stderr:\n${stderr}`,
          ),
        );
      }, opts.startTimeoutMs ?? 30_000);
      lines.once("line", (line) => {
        clearTimeout(timer);
        const m = /^flox server listening on (http:\/\/\S+)$/.exec(line);
        if (m?.[1]) resolve(m[1]);
        else
          reject(
            new Error(`unexpected first line from flox server: ${JSON.stringify(line)}; stderr:\n${stderr}`),
          );
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`flox server exited with ${code} before listening; stderr:\n${stderr}`));
      });
    });
  } catch (err) {
    child.kill("SIGKILL");
    await exited;
    cleanup();
    throw err;
  }
  const port = Number(new URL(url).port);

  let stopped: Promise<number | null> | undefined;
  return {
    url,
    port,
    adminToken: adminToken ?? "",
    dataDir,
    process: child,
    stderr: () => stderr,
    async api(method, path, body, token = adminToken) {
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers["content-type"] = "application/json";
      const res = await fetch(`${url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    },
    gitUrl(org, token) {
      const auth = token ? `x:${encodeURIComponent(token)}@` : "";
      return `http://${auth}127.0.0.1:${port}/${org}/nixexprs.git`;
    },
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        // Past the server's own 10 s grace, so that it kills its children (a long evaluation's nix-instantiate)
        // itself: killed first, it would leave them writing into the data dir being removed.
        const kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
        const code = await exited;
        clearTimeout(kill);
        cleanup();
        return code;
      })();
      return stopped;
    },
  };
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * An HTTP request whose path goes out byte for byte (fetch would resolve `..` and re-encode), for probing
 * how the server treats hostile URLs.
 */
export function rawRequest(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string | Buffer,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
    req.end(body);
  });
}
