// An in-process app over a fresh temp data dir, for route tests through `app.request()` (no socket).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { createApp } from "../server/app.js";
import { type Db, openDatabase, openDb } from "../server/db/open.js";
import { Signals } from "../server/db/signals.js";
import { ensureAdminToken } from "../server/orgs/tokens.js";
import { type DataPaths, dataPaths } from "../server/paths.js";
import type { ApiAnswer } from "./server.js";

export interface TestApp {
  app: ReturnType<typeof createApp>;
  db: Db;
  paths: DataPaths;
  adminToken: string;
  hookSecret: string;
  /** JSON request; answers `{status, body}` with the body parsed when there is one. */
  api(method: string, path: string, body?: unknown, token?: string | null): Promise<ApiAnswer>;
  cleanup(): void;
}

/** `database`: a URL to open instead of the data dir's SQLite file (a bench's PostgreSQL side). */
export async function createTestApp(opts: { database?: string } = {}): Promise<TestApp> {
  const dir = mkdtempSync(join(tmpdir(), "flox-app-test-"));
  const paths = dataPaths(dir);
  const { db, close } = opts.database ? await openDatabase(opts.database) : openDb(paths.db);
  const adminToken = `flox_in-process-admin-${"0".repeat(26)}`;
  await ensureAdminToken(db, adminToken);
  const hookSecret = "test-hook-secret";
  const app = createApp({ db, paths, hookSecret, logger: pino({ level: "silent" }), signals: new Signals() });
  return {
    app,
    db,
    paths,
    adminToken,
    hookSecret,
    async api(method, path, body, token = adminToken) {
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      let payload: string | undefined;
      if (body !== undefined) {
        headers["content-type"] = "application/json";
        payload = typeof body === "string" ? body : JSON.stringify(body);
      }
      const res = await app.request(`http://flox.test${path}`, { method, headers, body: payload });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    },
    cleanup() {
      void close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
