// A real PostgreSQL stopped and started under a running server: requests answer 503 meanwhile and the server
// carries on without a restart; a database that does not exist stops the server at start with one clear line.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { projectRoot } from "../../lib/project-root.js";
import { startPostgres, type TestPostgres } from "../../testing/postgres.js";
import { startTestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";

let pg: TestPostgres;
test.before(async () => {
  pg = await startPostgres();
});
test.after(() => pg.destroy());

test("PostgreSQL gone under a running server: 503 with a message, then back to work without a restart", async () => {
  const srv = await startTestServer({ args: ["--database", pg.createDatabase("down")] });
  try {
    assert.is((await srv.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
    pg.stop();
    const down = await srv.api("GET", "/api/v1/orgs");
    assert.is(down.status, 503);
    assert.is(down.body.error.code, "database_unavailable");
    assert.match(down.body.error.message, /database is not answering/);
    pg.start();
    await waitFor(
      "the server to answer again",
      async () => (await srv.api("GET", "/api/v1/orgs")).status === 200,
      {
        timeoutMs: 30_000,
      },
    );
    const orgs = await srv.api("GET", "/api/v1/orgs");
    assert.equal(
      orgs.body.orgs.map((o: { name: string }) => o.name),
      ["acme"],
    );
  } finally {
    await srv.stop();
  }
});

test("a database that does not exist: one line naming it, password hidden, saying what to do", () => {
  const dir = mkdtempSync(join(tmpdir(), "flox-nodb-"));
  try {
    const r = spawnSync(
      process.execPath,
      [
        join(projectRoot, "cli/bin/flox"),
        "server",
        "--data-dir",
        dir,
        "--listen",
        "127.0.0.1:0",
        "--database",
        `postgres://postgres:hunter2@127.0.0.1:${pg.port}/nosuchdb`,
      ],
      { encoding: "utf8", timeout: 60_000 },
    );
    assert.is(r.status, 1);
    // Past the line every start prints (the Nix in use), the failure is one line.
    const lines = r.stderr
      .trim()
      .split("\n")
      .filter((l) => !/^flox server: using Nix /.test(l));
    assert.is(lines.length, 1, r.stderr);
    assert.match(
      lines[0] ?? "",
      /cannot open the database postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/nosuchdb/,
    );
    assert.match(lines[0] ?? "", /createdb/);
    assert.not.match(r.stderr, /hunter2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
