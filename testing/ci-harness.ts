// End-to-end CI tests share these: read-only looks into the server's database, the real `flox` CLI, and waits
// on channels and evaluations.
import { join } from "node:path";
import Database from "better-sqlite3";
import { execa } from "execa";
import { projectRoot } from "../lib/project-root.js";
import { databaseOfDataDir, queryPostgres } from "./postgres.js";
import type { TestServer } from "./server.js";
import { waitFor } from "./wait-for.js";

/** Rows of a read-only query against the server's database (the server keeps running). */
export function queryDb<T>(dataDir: string, sql: string, ...params: unknown[]): T[] {
  const pg = databaseOfDataDir.get(dataDir);
  if (pg) return queryPostgres<T>(pg, sql, params);
  const db = new Database(join(dataDir, "db.sqlite"), { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

export const buildFinished = (state: string) => state !== "queued" && state !== "running";

export interface FloxRun {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

/**
 * The real `flox` CLI against `server` with `token` (no colour, its own config dir `configHome` so nothing of the
 * host's `flox login` is read). Never throws on a non-zero exit: tests assert on it.
 */
export async function runFlox(
  server: string,
  token: string,
  configHome: string,
  args: string[],
  opts: { cwd?: string } = {},
): Promise<FloxRun> {
  const r = await execa(process.execPath, [join(projectRoot, "cli", "bin", "flox"), ...args], {
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    env: {
      ...process.env,
      FLOX_SERVER: server,
      FLOX_TOKEN: token,
      NO_COLOR: "1",
      XDG_CONFIG_HOME: configHome,
    },
    reject: false,
    stdin: "ignore",
    timeout: 300_000,
  });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Waits until channel `acme` (the org's main branch) points at `evaluation` or a later one. */
export async function waitForChannelAt(
  srv: Pick<TestServer, "api">,
  org: string,
  evaluation: number,
  explain?: () => string,
): Promise<void> {
  await waitFor(
    `channel ${org} at evaluation ${evaluation}`,
    async () =>
      (await srv.api("GET", `/api/v1/channels/${org}`)).body.channel?.current?.evaluation >= evaluation,
    explain ? { explain } : {},
  );
}

/** The id of the newest evaluation of `org/branch` (the one the last push queued). */
export async function latestEvaluationId(
  srv: Pick<TestServer, "api">,
  org: string,
  branch = "main",
): Promise<number> {
  const r = await srv.api("GET", `/api/v1/orgs/${org}/jobsets/${encodeURIComponent(branch)}/evaluations`);
  return r.body.evaluations[0].id;
}
