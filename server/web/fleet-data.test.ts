/**
 * The API the fleet pages are built on, against a real server, builder and pushes: a channel's history says what
 * each advance changed; `?org=` narrows the lists and keeps the reader check; the builders list shows only the
 * running builds the asker may read (the rest counted) and the queue; the Storehouse in figures.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { BuilderProcess } from "../../testing/builder.js";
import { latestEvaluationId, queryDb, runFlox, waitForChannelAt } from "../../testing/ci-harness.js";
import { type CiWorld, startCiWorld } from "../../testing/ci-world.js";
import { commitAll, push, workRepoFromFixture } from "../../testing/repos.js";
import type { TestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";

let srv: TestServer;
let tmp = "";
let builder: BuilderProcess | undefined;
let world: CiWorld | undefined;
const tokens: Record<string, string> = {};
const tok = (name: string) => tokens[name] ?? "";

async function token(name: string, body: object) {
  const r = await srv.api("POST", "/api/v1/tokens", { name, ...body });
  assert.is(r.status, 201, JSON.stringify(r.body));
  tokens[name] = r.body.secret;
}

async function pushTo(org: string, dir: string, message: string): Promise<number> {
  await commitAll(dir, message);
  const r = await push(dir, srv.gitUrl(org, srv.adminToken), ["HEAD:refs/heads/main"]);
  assert.is(r.exitCode, 0, r.stderr);
  return latestEvaluationId(srv, org);
}

async function pkg(dir: string, name: string, text: string) {
  await mkdir(join(dir, "pkgs", name), { recursive: true });
  await writeFile(join(dir, "pkgs", name, "default.nix"), text);
}

test.before(async () => {
  world = await startCiWorld({ prefix: "flox-fleet-data-", orgs: [{ name: "acme" }, { name: "secret" }] });
  ({ srv, tmp, builder } = world);
  await token("acme-reader", { scope: "org", org: "acme", role: "reader" });
  await token("secret-member", { scope: "org", org: "secret", role: "member" });
});

test.after(async () => {
  await world?.stop();
});

test("a channel's history says what each advance added, removed and changed", async () => {
  const work = await workRepoFromFixture("dep-chain", join(tmp, "acme"));
  const first = await pushTo("acme", work, "a, b, c");
  await waitForChannelAt(srv, "acme", first, () => builder?.log() ?? "");
  // c's text changes (so b, which copies it, changes too; a is gone), d is new.
  await rm(join(work, "pkgs", "a"), { recursive: true });
  await writeFile(
    join(work, "pkgs", "c", "default.nix"),
    '{ writeTextFile }:\n\nwriteTextFile {\n  name = "c";\n  destination = "/share/c.txt";\n  text = "c2\\n";\n}\n',
  );
  await pkg(work, "d", '{ runCommand }:\n\nrunCommand "d" { } "mkdir $out"\n');
  const second = await pushTo("acme", work, "c2, d, no a");
  await waitForChannelAt(srv, "acme", second, () => builder?.log() ?? "");

  const r = await srv.api("GET", "/api/v1/channels/acme/main/history", undefined, tok("acme-reader"));
  assert.is(r.status, 200, JSON.stringify(r.body));
  const history = r.body.history as Array<{ evaluation: number; changes: unknown }>;
  assert.equal(
    history.map((p) => p.evaluation),
    [first, second],
  );
  assert.equal(history[0]?.changes, { added: ["a", "b", "c"], removed: [], changed: [] });
  assert.equal(history[1]?.changes, { added: ["d"], removed: ["a"], changed: ["b", "c"] });
});

test("?org= narrows the lists to one org, with the same reader check as the org's own routes", async () => {
  for (const list of ["channels", "profiles", "machines"]) {
    const mine = await srv.api("GET", `/api/v1/${list}?org=acme`, undefined, tok("acme-reader"));
    assert.is(mine.status, 200, `${list}: ${JSON.stringify(mine.body)}`);
    const all = await srv.api("GET", `/api/v1/${list}`, undefined, tok("acme-reader"));
    assert.equal(mine.body, all.body, `${list}: a reader of one org sees the same either way`);
    const admin = await srv.api("GET", `/api/v1/${list}?org=acme`);
    assert.ok(
      (admin.body[list] as Array<{ org: string }>).every((x) => x.org === "acme"),
      `${list}: only acme's`,
    );
    const other = await srv.api("GET", `/api/v1/${list}?org=acme`, undefined, tok("secret-member"));
    assert.is(other.status, 404, `${list}: another org's token gets the 404 of an org that does not exist`);
    assert.is((await srv.api("GET", `/api/v1/${list}?org=nope`)).status, 404);
    assert.is((await srv.api("GET", `/api/v1/${list}?org=${encodeURIComponent("../x")}`)).status, 400);
  }
  const channels = await srv.api("GET", "/api/v1/channels?org=acme");
  assert.equal(
    channels.body.channels.map((c: { name: string }) => c.name),
    ["acme"],
  );
});

test("builders: a running build of an org the asker cannot read is counted, not shown; the queue", async () => {
  const work = await workRepoFromFixture("dep-chain", join(tmp, "secret"));
  // A duration nothing else sleeps for; cancelled below.
  await pkg(
    work,
    "slow-secret-thing",
    `{ runCommand }:\n\nrunCommand "slow-secret-thing" { } "sleep ${200_000 + (Date.now() % 100_000)}; mkdir $out"\n`,
  );
  await pushTo("secret", work, "a slow one");
  const slow = await waitFor(
    "the slow build to run",
    () =>
      queryDb<{ id: number }>(
        srv.dataDir,
        "select b.id from builds b join build_leases l on l.build_id = b.id where b.drv_path like '%slow-secret-thing%'",
      )[0],
    { explain: () => builder?.log() ?? "" },
  );
  type B = { name: string; running: Array<{ build: number; drvPath: string }>; otherRunning: number };
  const asSeenBy = async (t: string | undefined) => {
    const r = await srv.api("GET", "/api/v1/builders", undefined, t);
    assert.is(r.status, 200, JSON.stringify(r.body));
    return r.body as { builders: B[]; queue: { queued: number; running: number } };
  };
  const outsider = await asSeenBy(tok("acme-reader"));
  const b1 = outsider.builders.find((b) => b.name === "b1");
  assert.ok(b1, "b1 is listed");
  assert.equal(b1?.running, []);
  assert.is(b1?.otherRunning, 1);
  assert.not.match(JSON.stringify(outsider), /slow-secret-thing/);
  assert.ok(outsider.queue.running >= 1, JSON.stringify(outsider.queue));

  const insider = await asSeenBy(tok("secret-member"));
  const own = insider.builders.find((b) => b.name === "b1");
  assert.equal(
    own?.running.map((r) => r.build),
    [slow.id],
  );
  assert.match(own?.running[0]?.drvPath ?? "", /slow-secret-thing\.drv$/);
  assert.is(own?.otherRunning, 0);
  assert.equal(insider.queue, outsider.queue, "the queue is the same for everyone");
  const figures = queryDb<{ state: string; n: number }>(
    srv.dataDir,
    "select state, count(*) as n from builds where state in ('queued', 'running') group by state",
  );
  assert.is(insider.queue.running, figures.find((f) => f.state === "running")?.n ?? 0);
  assert.is(insider.queue.queued, figures.find((f) => f.state === "queued")?.n ?? 0);

  // `flox builders` says the same: the other org's build only counted, and the queue.
  const cli = await runFlox(srv.url, tok("acme-reader"), tmp, ["builders"]);
  assert.is(cli.exitCode, 0, cli.stderr);
  assert.match(cli.stdout, /1 of other orgs/);
  assert.not.match(cli.stdout, /slow-secret-thing/);
  assert.match(cli.stdout, new RegExp(`queue: ${outsider.queue.queued} waiting, \\d+ building`));

  const cancel = await srv.api("POST", `/api/v1/builds/${slow.id}/cancel`, undefined, tok("secret-member"));
  assert.is(cancel.status, 200, JSON.stringify(cancel.body));
});

test("the Storehouse in figures, for any token; none without", async () => {
  const r = await srv.api("GET", "/api/v1/storehouse", undefined, tok("acme-reader"));
  assert.is(r.status, 200, JSON.stringify(r.body));
  const s = r.body.storehouse;
  const [row] = queryDb<{ n: number; nar: number; file: number; last: string }>(
    srv.dataDir,
    "select count(*) as n, sum(nar_size) as nar, sum(file_size) as file, max(created_at) as last from cache_paths",
  );
  assert.ok((row?.n ?? 0) > 0, "the builds uploaded paths");
  // The collector's figures: the same totals, and per-org lines only for the orgs this token may read.
  const { gc, ...figures } = s;
  assert.is(gc.totalPaths, row?.n);
  assert.is(gc.totalBytes, row?.file);
  assert.equal(
    gc.orgs.map((o: { org: string }) => o.org),
    ["acme"],
    "an acme reader sees acme's usage, not the other orgs'",
  );
  assert.is(gc.schedule, "17 3 * * *");
  assert.equal(figures, {
    url: `${srv.url}/cache`,
    publicKey: (await (await fetch(`${srv.url}/cache/public-key`)).text()).trim(),
    private: false,
    paths: row?.n,
    narBytes: row?.nar,
    fileBytes: row?.file,
    lastUploadAt: row?.last,
  });
  assert.is((await srv.api("GET", "/api/v1/storehouse", undefined, null)).status, 401);
});

test.run();
