// `flox server migrate-db`, run as the real CLI: a server that has pushed, built, published a channel, kept a
// profile and heard from machines on SQLite carries on, unchanged, on the PostgreSQL database the copy filled.
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { projectRoot } from "../../lib/project-root.js";
import { serverSystem, startBuilderProcess } from "../../testing/builder.js";
import { latestEvaluationId, runFlox, waitForChannelAt } from "../../testing/ci-harness.js";
import { startFleetWorld } from "../../testing/fleet-world.js";
import { queryPostgres, testPostgres } from "../../testing/postgres.js";
import { commitAll, push } from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";

const migrateDb = (args: string[]) =>
  execa(process.execPath, [join(projectRoot, "cli", "bin", "flox"), "server", "migrate-db", ...args], {
    env: { ...process.env, NO_COLOR: "1" },
    reject: false,
    timeout: 300_000,
  });

function psql(url: string, statement: string): void {
  execFileSync(join(process.env.FLOX_PG_BIN ?? "/usr/lib/postgresql/15/bin", "psql"), [
    url,
    "-q",
    "-c",
    statement,
  ]);
}

/** Every table's rows and largest id, as PostgreSQL holds them: what "nothing changed" compares. */
function targetState(url: string): string {
  const tables = queryPostgres<{ name: string }>(
    url,
    "select table_name as name from information_schema.tables where table_schema = 'public' order by 1",
    [],
  );
  return tables
    .map(({ name }) => {
      const [row] = queryPostgres<{ n: number; sum: string }>(
        url,
        `select count(*) as n, md5(coalesce(string_agg(t::text, '|' order by t::text), '')) as sum from "${name}" t`,
        [],
      );
      return `${name} ${row?.n} ${row?.sum}`;
    })
    .join("\n");
}

test("an unreachable target is one line naming it, password hidden; a stray table, lost rows or a missing source fail", async () => {
  const tmp = await mkdtemp(join(tmpdir(), "flox-migrate-db-"));
  try {
    const { openDatabase, openDb } = await import("./open.js");
    await openDb(join(tmp, "db.sqlite")).close();
    const r = await migrateDb([
      "--from",
      `sqlite:${join(tmp, "db.sqlite")}`,
      "--to",
      "postgres://flox:sekrit@127.0.0.1:1/flox",
    ]);
    assert.is(r.exitCode, 1, r.stderr);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(
      r.stderr,
      /^flox server migrate-db: cannot open the target database postgres:\/\/flox:\*\*\*@127\.0\.0\.1:1\/flox: .*ECONNREFUSED/,
    );
    assert.not.match(r.stderr, "sekrit");

    // A table flox does not know, in the target: refused rather than left out of the copy or of --force.
    const url = (await testPostgres()).createDatabase();
    psql(url, "create table somebody_elses (x int)");
    const stray = await migrateDb(["--from", `sqlite:${join(tmp, "db.sqlite")}`, "--to", url, "--force"]);
    assert.is(stray.exitCode, 1, stray.stdout);
    assert.match(stray.stderr, /holds tables this build of flox does not know \(somebody_elses\)/);

    // Rows that do not arrive: a trigger on the target drops every org silently; the count check catches it.
    const source = openDb(join(tmp, "db.sqlite"));
    const { orgs } = await import("./tables.js");
    await source.db.insert(orgs).values({ name: "acme", displayName: "Acme" });
    await source.close();
    const lossy = (await testPostgres()).createDatabase();
    await (await openDatabase(lossy)).close();
    psql(
      lossy,
      "create function drop_row() returns trigger language plpgsql as $$ begin return null; end $$; create trigger drop_orgs before insert on orgs for each row execute function drop_row()",
    );
    const lost = await migrateDb(["--from", `sqlite:${join(tmp, "db.sqlite")}`, "--to", lossy]);
    assert.is(lost.exitCode, 1, lost.stdout);
    assert.match(lost.stderr, /row counts differ after the copy: orgs 1 in SQLite, 0 in PostgreSQL/);
    assert.is(lost.stderr.trim().split("\n").length, 1, lost.stderr);

    const missing = await migrateDb([
      "--from",
      `sqlite:${join(tmp, "nope.sqlite")}`,
      "--to",
      "postgres://flox@127.0.0.1:1/flox",
    ]);
    assert.is(missing.exitCode, 2, missing.stderr);
    assert.match(missing.stderr, /--from sqlite:.*nope\.sqlite: no such file/);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});

test("a server's whole state moves from SQLite to PostgreSQL and the server carries on there", async () => {
  const tmp = await mkdtemp(join(tmpdir(), "flox-migrate-db-"));
  const dataDir = join(tmp, "data");
  await mkdir(dataDir);
  const sqliteUrl = `sqlite:${join(dataDir, "db.sqlite")}`;
  // SQLite whatever FLOX_TEST_DATABASE says: that is what is being moved.
  const world = await startFleetWorld("migrate-db", { dataDir, args: ["--database", sqliteUrl] });
  let after: TestServer | undefined;
  const builders: { stop(): Promise<void> }[] = [];
  try {
    const { tok } = world;
    // What the admin and a member see, before and after: every resource the world made.
    const views: [string, string][] = [
      ["/api/v1/orgs", world.srv.adminToken],
      ["/api/v1/orgs/acme/pushes", tok("alice")],
      ["/api/v1/orgs/acme/jobsets", tok("alice")],
      ["/api/v1/orgs/acme/jobsets/main/evaluations", tok("alice")],
      ["/api/v1/builds?org=acme", tok("alice")],
      ["/api/v1/channels/acme", tok("alice")],
      ["/api/v1/channels/acme/main/history", tok("alice")],
      ["/api/v1/profiles/acme/dev", tok("alice")],
      ["/api/v1/profiles/acme/dev/generations", tok("alice")],
      ["/api/v1/machines?org=acme", tok("alice")],
      ["/api/v1/tokens", world.srv.adminToken],
    ];
    const look = async (srv: TestServer) => {
      const seen: Record<string, unknown> = {};
      for (const [path, token] of views) {
        const r = await srv.api("GET", path, undefined, token);
        assert.is(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
        // The port is the one thing a restart changes in what is shown.
        seen[path] = JSON.parse(JSON.stringify(r.body).replaceAll(srv.url, "SERVER"));
      }
      const evaluation = await latestEvaluationId(srv, "acme");
      const e = await srv.api("GET", `/api/v1/evaluations/${evaluation}`, undefined, tok("alice"));
      seen.evaluation = JSON.parse(JSON.stringify(e.body).replaceAll(srv.url, "SERVER"));
      return seen;
    };
    const before = await look(world.srv);
    const oldEvaluation = await latestEvaluationId(world.srv, "acme");
    const oldPushes = (before["/api/v1/orgs/acme/pushes"] as { pushes: { id: number }[] }).pushes;
    assert.ok(oldPushes.length > 0);
    await world.builder.stop();
    await world.srv.stop();

    const pg = await testPostgres();
    const url = pg.createDatabase();
    const r = await migrateDb(["--from", sqliteUrl, "--to", url]);
    assert.is(r.exitCode, 0, r.stderr + r.stdout);
    // The counts, table by table, printed and equal; the world's rows are among them.
    const counts = new Map(
      [...r.stdout.matchAll(/^ {2}(\w+) +(\d+) → (\d+)$/gm)].map((m) => [m[1], [Number(m[2]), Number(m[3])]]),
    );
    for (const table of ["orgs", "tokens", "pushes", "evaluations", "builds", "channel_points"]) {
      assert.ok((counts.get(table)?.[0] ?? 0) > 0, `${table} copied: ${r.stdout}`);
    }
    for (const table of ["profiles", "profile_generations", "machines", "subscriptions", "cache_paths"]) {
      assert.ok((counts.get(table)?.[0] ?? 0) > 0, `${table} copied: ${r.stdout}`);
    }
    for (const [table, [a, b] = []] of counts) assert.is(a, b, `${table}: ${r.stdout}`);
    const tableCount = queryPostgres<{ n: number }>(
      url,
      "select count(*) as n from information_schema.tables where table_schema = 'public'",
      [],
    )[0]?.n;
    assert.is(counts.size, tableCount, "every table of the database is counted");

    // Again into the now-filled database: refused, naming what is there, and nothing touched.
    const state = targetState(url);
    const again = await migrateDb(["--from", sqliteUrl, "--to", url]);
    assert.is(again.exitCode, 1, again.stdout);
    assert.match(again.stderr, /is not empty \(.*orgs: 2.*rows\); .*--force/);
    assert.is(again.stderr.trim().split("\n").length, 1, again.stderr);
    assert.is(targetState(url), state);
    // With --force it empties the target first: the same rows again, no duplicate left behind.
    const forced = await migrateDb(["--from", sqliteUrl, "--to", url, "--force"]);
    assert.is(forced.exitCode, 0, forced.stderr + forced.stdout);
    assert.match(forced.stdout, /emptying .*\(--force\)/);
    assert.is(targetState(url), state);

    // The same data dir (repos, Storehouse, keys) on the new database.
    after = await startTestServer({ dataDir, args: ["--database", url] });
    const now = await look(after);
    for (const [path] of views) {
      if (path === "/api/v1/tokens" || path === "/api/v1/machines?org=acme") continue;
      assert.equal(now[path], before[path], path);
    }
    assert.equal(now.evaluation, before.evaluation);
    // Tokens: the same ones, and the old secrets still let their owners in (and only into their own org).
    const names = (v: unknown) =>
      (v as { tokens: { id: number; name: string }[] }).tokens.map((t) => `${t.id} ${t.name}`).sort();
    assert.equal(names(now["/api/v1/tokens"]), names(before["/api/v1/tokens"]));
    assert.is((await after.api("GET", "/api/v1/orgs/acme", undefined, tok("alice"))).status, 200);
    assert.is((await after.api("GET", "/api/v1/orgs/secret", undefined, tok("outsider"))).status, 200);
    assert.is.not((await after.api("GET", "/api/v1/orgs/secret", undefined, tok("alice"))).status, 200);
    const machineNames = (v: unknown) =>
      (v as { machines: { name: string }[] }).machines.map((m) => m.name).sort();
    assert.equal(machineNames(now["/api/v1/machines?org=acme"]), ["db-1", "web-1", "web-2"]);
    assert.equal(
      machineNames(now["/api/v1/machines?org=acme"]),
      machineNames(before["/api/v1/machines?org=acme"]),
    );
    const me = await after.api("GET", "/api/v1/machines/me", undefined, tok("web-1"));
    assert.is(me.status, 200, JSON.stringify(me.body));
    assert.is(me.body.machine.name, "web-1");
    const report = await after.api(
      "POST",
      "/api/v1/machines/me/reports",
      { profile: "acme/dev", generation: 2, status: "ok" },
      tok("db-1"),
    );
    assert.is(report.status, 204, JSON.stringify(report.body));
    // The CLI reads the profile as before.
    const show = await runFlox(after.url, tok("alice"), tmp, ["profile", "show", "acme/dev"]);
    assert.is(show.exitCode, 0, show.stderr);
    assert.match(show.stdout, /acme\/dev/);

    // A new push: fresh push and evaluation ids past the copied ones, built by the old builder token, published.
    builders.push(
      startBuilderProcess(after, {
        name: "b2",
        token: tok("b"),
        store: join(tmp, "store-b2"),
        system: await serverSystem(dataDir),
      }),
    );
    await mkdir(join(world.work, "pkgs", "d"), { recursive: true });
    await writeFile(
      join(world.work, "pkgs", "d", "default.nix"),
      `{ runCommand }:\n\nrunCommand "d" { } "mkdir $out"\n`,
    );
    await commitAll(world.work, "d, after the move");
    const pushed = await push(world.work, after.gitUrl("acme", tok("alice")), ["HEAD:refs/heads/main"]);
    assert.is(pushed.exitCode, 0, pushed.stderr);
    const evaluation = await latestEvaluationId(after, "acme");
    assert.ok(evaluation > oldEvaluation, `evaluation ${evaluation} after ${oldEvaluation}`);
    const pushes = (await after.api("GET", "/api/v1/orgs/acme/pushes", undefined, tok("alice"))).body
      .pushes as {
      id: number;
    }[];
    assert.ok(
      Math.max(...pushes.map((p) => p.id)) > Math.max(...oldPushes.map((p) => p.id)),
      JSON.stringify(pushes),
    );
    await waitForChannelAt(after, "acme", evaluation);
    const built = (await after.api("GET", `/api/v1/evaluations/${evaluation}`, undefined, tok("alice"))).body;
    assert.ok(
      built.evaluation.jobs.some(
        (j: { attr: string; build: { state: string } }) => j.attr === "d" && j.build.state === "succeeded",
      ),
      JSON.stringify(built),
    );
  } finally {
    for (const b of builders) await b.stop();
    await after?.stop();
    await world.stop();
    await execa("chmod", ["-R", "u+w", tmp], { reject: false });
    await rm(tmp, { recursive: true, force: true });
  }
});

test.run();
