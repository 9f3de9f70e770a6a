// A throwaway PostgreSQL for tests (FLOX_TEST_DATABASE=postgres): Debian's server binaries, initdb in a temp dir
// as the postgres user, one cluster per test process on a unix socket and a free port, one database per server.
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const BIN = process.env.FLOX_PG_BIN ?? "/usr/lib/postgresql/15/bin";

/** True when this test run puts every server it starts on PostgreSQL. */
export function testingOnPostgres(): boolean {
  return process.env.FLOX_TEST_DATABASE === "postgres";
}

export interface TestPostgres {
  port: number;
  socketDir: string;
  /** A new empty database; answers its URL. */
  createDatabase(name?: string): string;
  /** Stops the cluster at once (as a crash would) and keeps its files: start() brings it back. */
  stop(): void;
  start(): void;
  /** Stops it and removes everything. */
  destroy(): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

function asPostgres(args: string[]): string {
  return execFileSync("runuser", ["-u", "postgres", "--", ...args], { encoding: "utf8", stdio: "pipe" });
}

let shared: Promise<TestPostgres> | undefined;
let counter = 0;
/** Which database each server's data dir uses, for the tests' read-only looks (testing/ci-harness queryDb). */
export const databaseOfDataDir = new Map<string, string>();

/** The cluster of this test process, started on first use and destroyed when the process exits. */
export function testPostgres(): Promise<TestPostgres> {
  shared ??= startPostgres().then((pg) => {
    process.once("exit", () => pg.destroy());
    return pg;
  });
  return shared;
}

export async function startPostgres(): Promise<TestPostgres> {
  if (!existsSync(join(BIN, "initdb"))) {
    throw new Error(
      `PostgreSQL's server binaries are not in ${BIN}; run \`npm run setup\` (apt-get install postgresql)`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), "flox-pg-"));
  const data = join(dir, "data");
  const socketDir = join(dir, "sock");
  mkdirSync(socketDir);
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  chownSync(dir, uid, gid);
  chownSync(socketDir, uid, gid);
  asPostgres([join(BIN, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  const port = await freePort();
  // fsync off (the OS keeps what was written; only a machine crash loses it), but commits still wait for their WAL
  // write: stop() kills PostgreSQL as a crash would, and the tests expect committed rows to survive it.
  const opts = `-k ${socketDir} -p ${port} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200`;
  const start = () =>
    asPostgres([join(BIN, "pg_ctl"), "-D", data, "-o", opts, "-l", join(dir, "log"), "-w", "start"]);
  const stop = () => asPostgres([join(BIN, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"]);
  start();
  let running = true;
  return {
    port,
    socketDir,
    createDatabase(name = `flox_${process.pid}_${++counter}`) {
      asPostgres([join(BIN, "createdb"), "-h", socketDir, "-p", String(port), "-U", "postgres", name]);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    stop() {
      stop();
      running = false;
    },
    start() {
      start();
      running = true;
    },
    destroy() {
      try {
        if (running) stop();
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Rows of a read-only query against a PostgreSQL database, through psql (synchronous, like the SQLite look). */
export function queryPostgres<T>(url: string, sql: string, params: unknown[]): T[] {
  let i = 0;
  const literal = (v: unknown) =>
    v === null || v === undefined
      ? "null"
      : typeof v === "number"
        ? String(v)
        : `'${String(v).replace(/'/g, "''")}'`;
  const text = sql.replace(/\?/g, () => literal(params[i++]));
  const out = execFileSync(
    join(BIN, "psql"),
    [url, "-X", "-A", "-t", "-q", "-c", `select coalesce(json_agg(t), '[]') from (${text}) t`],
    { encoding: "utf8" },
  );
  // In SQLite's raw shape, as the tests' looks expect: JSON columns as text, booleans as 0/1, times ending in Z.
  const rows = JSON.parse(out.trim() || "[]") as Record<string, unknown>[];
  const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/;
  for (const row of rows) {
    for (const [k, v] of Object.entries(row)) {
      if (v !== null && typeof v === "object") row[k] = JSON.stringify(v);
      else if (typeof v === "boolean") row[k] = v ? 1 : 0;
      else if (typeof v === "string" && iso.test(v)) row[k] = new Date(v).toISOString();
    }
  }
  return rows as T[];
}
