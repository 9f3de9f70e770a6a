// End to end: a stock Nix client on a brand-new machine (a fresh /nix whose store is only the agent's FUSE mount)
// builds expressions that are in no repo through `flox agent --daemon-socket` → `GET /nix-daemon` → the shared
// nix-daemon → flox's build hook → the farm's queue → a real `flox builder`, then runs the results through the mount.
import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { probeNix, versionAtLeast } from "../../lib/nix-install.js";
import { queryDb, runFlox } from "../../testing/ci-harness.js";
import { clientNixDir } from "../../testing/client-nix.js";
import {
  helloExpression,
  type RelayWorld,
  runRelayClient,
  startRelayWorld,
} from "../../testing/relay-world.js";

let w: RelayWorld;

test.before(async () => {
  w = await startRelayWorld("flox-relay-");
});
test.after(async () => {
  await w?.stop();
});

const client = async (name: string, script: string, extraConf?: string) =>
  runRelayClient(w, {
    dir: await mkdtemp(join(w.tmp, `client-${name}-`)),
    script,
    ...(extraConf ? { extraConf } : {}),
  });

const explain = (r: { stdout: string; stderr: string }) =>
  `${r.stdout}\n${r.stderr}\n--- server\n${w.srv.stderr()}\n--- builder\n${w.builder.log()}\n--- agent\n${w.agent.stderr()}`;

interface BuildJson {
  id: number;
  drvPath: string;
  outputs: Record<string, string>;
  builder: string | null;
  attempts: number;
  state: string;
  relay: { org: string; actor: string; host: string | null; state: string }[];
}

async function builds(): Promise<BuildJson[]> {
  const r = await runFlox(w.srv.url, w.member, w.tmp, ["builds", "--json", "--limit", "1000"]);
  assert.is(r.exitCode, 0, r.stderr);
  return JSON.parse(r.stdout).builds;
}

test("a stock client with only the agent's mount builds on the farm through the relay and runs the result", async () => {
  const expr = join(w.tmp, "hello.nix");
  await writeFile(expr, helloExpression(w.busybox, "relay-hello-1"));
  const r = await client(
    "hello",
    `out=$(nix-build --no-out-link ${expr}) && echo "OUT=$out" && "$out/bin/hello"`,
  );
  assert.is(r.exitCode, 0, explain(r));
  assert.match(r.stdout, /hello from relay-hello-1/);
  // The builder's output reached the client's terminal through the hook's fd 4.
  assert.match(r.stderr, /building relay-hello-1 on the farm/);
  const out = /OUT=(\S+)/.exec(r.stdout)?.[1] ?? "";

  // It ran on the builder, and shows as wanted by the relay's user (who, from which host) instead of a jobset.
  const mine = (await builds()).find((b) => b.outputs.out === out);
  assert.ok(mine, `no build with output ${out}`);
  assert.is(mine?.builder, "b1");
  assert.is(mine?.state, "succeeded");
  assert.is(mine?.relay[0]?.actor, "alice-laptop");
  assert.is(mine?.relay[0]?.org, "acme");
  assert.ok(mine?.relay[0]?.host, "the relay names the client's host");
  // The build page says the same.
  const page = await fetch(`${w.srv.url}/acme/builds/${mine?.id}`, {
    headers: { authorization: `Bearer ${w.member}`, accept: "text/html" },
  });
  const html = await page.text();
  assert.is(page.status, 200);
  assert.match(html, /relay by <strong>alice-laptop<\/strong>/);

  // Only the touched closure was fetched: the result and the busybox it runs, nothing else. A 2.26 client reads
  // the .drv it built back from its store (the mount) to find the outputs; 2.8 asks the daemon instead.
  const cached = (await readdir(w.agent.mount)).sort();
  const busybox = queryDb<{ store_path: string }>(
    w.srv.dataDir,
    "select store_path from cache_paths where store_path like '%-busybox'",
  ).map((r) => r.store_path.slice("/nix/store/".length));
  const clientReadsDrv = versionAtLeast((await probeNix(clientNixDir())).version, "2.26.0");
  const drv = mine?.drvPath.slice("/nix/store/".length) ?? "";
  assert.equal(
    cached,
    [out.slice("/nix/store/".length), ...busybox, ...(clientReadsDrv ? [drv] : [])].sort(),
  );
  assert.ok(
    queryDb(w.srv.dataDir, "select 1 from cache_paths where store_path like '%-relay-hello-1.drv'").length ===
      1,
    "the .drv is in the Storehouse (the builder substituted it)",
  );

  // `nix log` shows the builder's output (the Storehouse serves the log to a token of an org that wanted it).
  const netrc = join(w.tmp, "netrc");
  await writeFile(netrc, `machine 127.0.0.1 login x password ${w.member}\n`);
  const log = await client(
    "log",
    `NIX_REMOTE= nix --extra-experimental-features nix-command log --store ${w.srv.url}/cache ${out}`,
    `netrc-file = ${netrc}\n`,
  );
  assert.is(log.exitCode, 0, explain(log));
  assert.match(log.stdout, /building relay-hello-1 on the farm/);

  // The activity log says who built what from where.
  const activity = await runFlox(w.srv.url, w.member, w.tmp, ["org", "activity", "acme", "--json"]);
  const sessions = JSON.parse(activity.stdout).sessions as { actor: string; builds: { id: number }[] }[];
  assert.ok(sessions.some((s) => s.actor === "alice-laptop" && s.builds.some((b) => b.id === mine?.id)));
});

test("a derivation the farm built already is not built again", async () => {
  const expr = join(w.tmp, "hello-again.nix");
  await writeFile(expr, helloExpression(w.busybox, "relay-hello-1"));
  const before = (await builds()).find((b) => b.drvPath.endsWith("-relay-hello-1.drv"));
  const r = await client("again", `out=$(nix-build --no-out-link ${expr}) && "$out/bin/hello"`);
  assert.is(r.exitCode, 0, explain(r));
  assert.match(r.stdout, /hello from relay-hello-1/);
  assert.not.match(r.stderr, /building relay-hello-1 on the farm/);
  const after = (await builds()).find((b) => b.drvPath.endsWith("-relay-hello-1.drv"));
  assert.is(after?.id, before?.id);
  assert.is(after?.attempts, 1);
});

test("ten clients at once, some wanting the same derivations: each derivation is built once", async () => {
  const tags = ["relay-many-0", "relay-many-1", "relay-many-2", "relay-many-3"];
  for (const tag of tags)
    await writeFile(join(w.tmp, `${tag}.nix`), helloExpression(w.busybox, tag, { sleep: 1 }));
  const runs = await Promise.all(
    Array.from({ length: 10 }, (_, i) => {
      const tag = tags[i % tags.length] as string;
      return client(
        `many-${i}`,
        `out=$(nix-build --no-out-link ${join(w.tmp, `${tag}.nix`)}) && "$out/bin/hello"`,
      ).then((r) => ({ r, tag }));
    }),
  );
  for (const { r, tag } of runs) {
    assert.is(r.exitCode, 0, explain(r));
    assert.match(r.stdout, new RegExp(`hello from ${tag}`));
  }
  const all = await builds();
  for (const tag of tags) {
    const mine = all.filter((b) => b.drvPath.endsWith(`-${tag}.drv`));
    assert.is(mine.length, 1, `one build of ${tag}`);
    assert.is(mine[0]?.attempts, 1, `${tag} ran once`);
    assert.is(mine[0]?.state, "succeeded");
  }
});

test("a failing build fails the client's nix-build with the builder's log; the new CLI (nix build) works too", async () => {
  const failing = join(w.tmp, "failing.nix");
  await writeFile(failing, helloExpression(w.busybox, "relay-failing", { fail: true }));
  const r = await client("failing", `nix-build --no-out-link ${failing}`);
  assert.is.not(r.exitCode, 0, explain(r));
  assert.match(r.stderr, /relay-failing fails on purpose/);
  assert.match(r.stderr, /build of .*relay-failing\.drv.* failed|builder for .*relay-failing\.drv.* failed/);
  const row = (await builds()).find((b) => b.drvPath.endsWith("-relay-failing.drv"));
  assert.is(row?.state, "failed");

  const modern = join(w.tmp, "modern.nix");
  await writeFile(modern, helloExpression(w.busybox, "relay-modern"));
  const m = await client(
    "modern",
    `nix --extra-experimental-features nix-command build --no-link --json -f ${modern} > $0/out.json && out=$(sed 's/.*"out":"\\([^"]*\\)".*/\\1/' $0/out.json) && "$out/bin/hello"`,
  );
  assert.is(m.exitCode, 0, explain(m));
  assert.match(m.stdout, /hello from relay-modern/);
});

test("paths a client adds through the daemon (a file, a .drv) are read through the mount", async () => {
  const file = join(w.tmp, "notes.txt");
  await writeFile(file, "added through the relay\n");
  const expr = join(w.tmp, "instantiated.nix");
  await writeFile(expr, helloExpression(w.busybox, "relay-instantiated"));
  const r = await client(
    "added",
    `p=$(nix-store --add ${file}) && cat "$p" && d=$(nix-instantiate ${expr} 2>/dev/null) && head -c 7 "$d" && echo`,
  );
  assert.is(r.exitCode, 0, explain(r));
  assert.match(r.stdout, /added through the relay/);
  assert.match(r.stdout, /Derive\(/);
});

test.run();
