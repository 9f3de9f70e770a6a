/**
 * Auto-upgrade schedules end to end: after a real push moves channel `acme`, an on-publish profile and a short-cron
 * profile each get exactly one new generation (later cron runs find nothing and make none), an `off` profile
 * stays, and a daily cron whose slot passed while the server was down is made up at the next start.
 */
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { projectRoot } from "../../lib/project-root.js";
import { type BuilderProcess, startOneBuilder } from "../../testing/builder.js";
import { queryDb, runFlox } from "../../testing/ci-harness.js";
import { removeTree } from "../../testing/remove-tree.js";
import { commitAll, ensureCompiledHooks, push, workRepoFromFixture } from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";

let srv: TestServer;
let tmp = "";
let dataDir = "";
let work = "";
let builder: BuilderProcess | undefined;

async function flox(args: string[]) {
  const r = await runFlox(srv.url, srv.adminToken, tmp, args);
  assert.is(r.exitCode, 0, `flox ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function generations(name: string) {
  const r = await srv.api("GET", `/api/v1/profiles/acme/${name}/generations`);
  assert.is(r.status, 200, JSON.stringify(r.body));
  return r.body.generations as Array<{ number: number; madeBy: { author: string; reason: string } }>;
}

const channelEval = async () =>
  (await srv.api("GET", "/api/v1/channels/acme")).body.channel?.current?.evaluation ?? 0;

/** Changes what package a prints, pushes, and waits until the channel serves the new evaluation. */
async function changeA(text: string): Promise<void> {
  const file = join(work, "pkgs", "a", "default.nix");
  await writeFile(file, (await readFile(file, "utf8")).replace(/echo a\S*/, `echo ${text}`));
  await commitAll(work, text);
  const before = await channelEval();
  const r = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  await waitFor("the channel to advance", async () => (await channelEval()) > before, {
    explain: () => builder?.log() ?? "",
  });
}

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-schedules-"));
  dataDir = join(tmp, "data");
  srv = await startTestServer({ dataDir });
  assert.is((await srv.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  builder = await startOneBuilder(srv, tmp);
  work = await workRepoFromFixture("dep-chain", tmp);
  await changeA("a1");
  for (const p of ["on-pub", "every-2s", "off", "daily"]) {
    await flox(["profile", "create", `acme/${p}`]);
    await flox(["profile", "install", `acme/${p}`, "acme#a"]);
  }
  assert.match(await flox(["profile", "schedule", "acme/on-pub"]), /on-publish/, "on-publish is the default");
  assert.match(
    await flox(["profile", "schedule", "acme/every-2s", "--cron", "*/2 * * * * *", "--jitter", "30m"]),
    /cron \*\/2 \* \* \* \* \*, next .*; machines spread over 1800 s/,
  );
  await flox(["profile", "schedule", "acme/off", "--off"]);
  await flox(["profile", "schedule", "acme/daily", "--cron", "0 4 * * *"]);
});

test.after(async () => {
  await builder?.stop();
  await srv?.stop();
  if (tmp) await removeTree(tmp);
});

test("a bad cron expression is refused with the reason", async () => {
  const r = await execa(
    process.execPath,
    [join(projectRoot, "cli", "bin", "flox"), "profile", "schedule", "acme/off", "--cron", "61 * * * *"],
    { env: { ...process.env, FLOX_SERVER: srv.url, FLOX_TOKEN: srv.adminToken }, reject: false },
  );
  assert.is(r.exitCode, 1);
  assert.match(String(r.stderr), /"61 \* \* \* \*" is not a cron expression/);
});

test("after a push: on-publish and cron make exactly one generation each; off makes none", async () => {
  await changeA("a2");
  const onPub = await waitFor("the on-publish upgrade", async () => {
    const g = await generations("on-pub");
    return g.length === 2 && g;
  });
  assert.is(onPub[1]?.madeBy.author, "schedule (on-publish)");
  assert.match(onPub[1]?.madeBy.reason ?? "", /channel acme advanced to evaluation #\d+/);
  const cron = await waitFor("the cron upgrade", async () => {
    const g = await generations("every-2s");
    return g.length >= 2 && g;
  });
  assert.is(cron[1]?.madeBy.author, "schedule (cron)");
  // Several more cron slots pass: none finds anything new, so none makes a generation. Waits for the slots to
  // have run (the scheduler records each slot), not for a guessed span of the wall clock.
  const ranAt = () =>
    Date.parse(
      queryDb<{ at: string }>(
        dataDir,
        "select last_run_at as at from profile_schedules where profile_id = (select id from profiles where name = 'every-2s')",
      )[0]?.at ?? "",
    );
  const seen = ranAt();
  await waitFor("two more cron slots", () => ranAt() >= seen + 6000);
  assert.is((await generations("every-2s")).length, 2);
  assert.is((await generations("on-pub")).length, 2);
  assert.is((await generations("off")).length, 1);
  assert.is((await generations("daily")).length, 1, "04:00 has not come");
});

test("a cron slot missed while the server was down is made up at start", async () => {
  await changeA("a3"); // the channel moves; the daily profile waits for 04:00
  assert.is((await generations("daily")).length, 1);
  await builder?.stop();
  await srv.stop();
  const db = new Database(join(dataDir, "db.sqlite"));
  db.prepare(
    "update profile_schedules set last_run_at = ? where profile_id = (select id from profiles where name = 'daily')",
  ).run(new Date(Date.now() - 3 * 86400_000).toISOString());
  db.close();
  srv = await startTestServer({ dataDir });
  const daily = await waitFor("the catch-up run", async () => {
    const g = await generations("daily");
    return g.length === 2 && g;
  });
  assert.is(daily[1]?.madeBy.author, "schedule (cron)");
  assert.match(daily[1]?.madeBy.reason ?? "", /^catch-up of the .* run \(0 4 \* \* \*\)$/);
});

test.run();
