/**
 * `flox builder --store-max`: a builder whose store grew past the limit collects it after the build (its outputs are
 * in the Storehouse), and its next build still works, substituting what it needs again.
 */
import { existsSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type BuilderProcess, serverSystem, startBuilderProcess } from "../../testing/builder.js";
import { latestEvaluationId, queryDb, waitForChannelAt } from "../../testing/ci-harness.js";
import { removeTree } from "../../testing/remove-tree.js";
import { commitAll, ensureCompiledHooks, push, workRepoFromFixture } from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { waitFor } from "../../testing/wait-for.js";

let srv: TestServer;
let builder: BuilderProcess | undefined;
let tmp = "";

test.before(async () => {
  await ensureCompiledHooks();
  tmp = await mkdtemp(join(tmpdir(), "flox-store-max-"));
  srv = await startTestServer({ args: ["--gc-schedule", "off"] });
  assert.is((await srv.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  const t = await srv.api("POST", "/api/v1/tokens", { scope: "builder", name: "b" });
  builder = startBuilderProcess(srv, {
    name: "b1",
    token: t.body.secret,
    store: join(tmp, "store-b1"),
    system: await serverSystem(srv.dataDir),
    args: ["--store-max", "1K"],
  });
});

test.after(async () => {
  await builder?.stop();
  await srv?.stop();
  await removeTree(tmp);
});

const outputsOf = (evaluation: number) =>
  queryDb<{ outputs: string }>(
    srv.dataDir,
    "select outputs from eval_jobs where evaluation_id = ?",
    evaluation,
  ).map((j) => JSON.parse(j.outputs).out as string);

test("a builder above --store-max shrinks its store after a build, and the next build still works", async () => {
  const work = await workRepoFromFixture("dep-chain", tmp);
  await commitAll(work, "chain");
  assert.is((await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"])).exitCode, 0);
  const first = await latestEvaluationId(srv, "acme");
  await waitForChannelAt(srv, "acme", first, () => builder?.log() ?? "");
  await waitFor(
    "the builder to collect its store",
    () => /above --store-max 1 KiB: collected with nix-store --gc/.test(builder?.log() ?? ""),
    {
      explain: () => builder?.log() ?? "",
    },
  );
  const store = join(tmp, "store-b1");
  // Built, uploaded, then collected: the outputs are no longer in the builder's store.
  await waitFor("the outputs to be gone from the builder's store", () =>
    outputsOf(first).every((p) => !existsSync(join(store, p))),
  );

  await writeFile(
    join(work, "pkgs", "c", "default.nix"),
    '{ writeTextFile }:\n\nwriteTextFile {\n  name = "c";\n  destination = "/share/c.txt";\n  text = "c again\\n";\n}\n',
  );
  await commitAll(work, "c changes");
  assert.is((await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"])).exitCode, 0);
  const second = await latestEvaluationId(srv, "acme");
  await waitForChannelAt(srv, "acme", second, () => builder?.log() ?? "");
  const states = queryDb<{ state: string }>(
    srv.dataDir,
    "select b.state from eval_jobs j join builds b on b.id = j.build_id where j.evaluation_id = ?",
    second,
  ).map((b) => b.state);
  assert.ok(
    states.every((s) => s === "succeeded" || s === "cached"),
    states.join(","),
  );
  assert.ok((builder?.log().match(/collected with nix-store --gc/g) ?? []).length >= 2, "it collected again");
});

test.run();
