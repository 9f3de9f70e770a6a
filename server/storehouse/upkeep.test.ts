// The Storehouse's background upkeep on a real server: NARs whose narinfo was refused are swept, NARs an accepted
// narinfo names stay.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startTestServer, type TestServer } from "../testing/test-server.js";
import { basic, prepareUpload, type Upload } from "./testing.js";

let s: TestServer;
let builder: string;

test.before(async () => {
  // No grace: an orphan is swept as soon as it is one (the default keeps it an hour for uploads in flight).
  s = await startTestServer({ args: ["--nar-sweep-grace", "0"] });
  const b = await s.api("POST", "/api/v1/tokens", { scope: "builder", name: "builder-1" });
  assert.is(b.status, 201, JSON.stringify(b.body));
  builder = b.body.secret;
});

test.after(async () => {
  await s.stop();
});

function put(path: string, body: string | Buffer): Promise<Response> {
  return fetch(`${s.url}/cache/${path}`, {
    method: "PUT",
    body,
    headers: { authorization: basic(builder) },
  });
}

async function putNar(u: Upload): Promise<void> {
  const r = await put(u.info.url, u.file);
  assert.is(r.status, 201, await r.text());
}

const narFile = (u: Upload) => join(s.dataDir, "store", "nar", u.fileName);
const serverLog = () => readFile(join(s.dataDir, "logs", "server.log"), "utf8");

test("a NAR whose narinfo was refused is swept; a NAR an accepted narinfo names stays", async () => {
  const kept = await prepareUpload("kept-1.0", { "share/kept": "kept\n" });
  await putNar(kept);
  const ok = await put(`${kept.hash}.narinfo`, kept.narinfoText);
  assert.is(ok.status, 201, await ok.text());

  const refused = await prepareUpload("refused-1.0", { "share/refused": "refused\n" }, { compression: "br" });
  await putNar(refused);
  const bad = refused.narinfoText.replace(/^NarSize: .*$/m, `NarSize: ${refused.info.narSize + 1}`);
  const no = await put(`${refused.hash}.narinfo`, bad);
  assert.is(no.status, 400, await no.text());
  assert.ok(existsSync(narFile(refused)), "the refused path's NAR is on disk before the sweep");

  const r = await s.api("POST", "/api/v1/storehouse/sweep");
  assert.is(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.removed.nars, [refused.fileName]);
  assert.not.ok(existsSync(narFile(refused)));
  assert.ok(existsSync(narFile(kept)));
  const nar = await fetch(`${s.url}/cache/${kept.info.url}`);
  assert.is(nar.status, 200);
  assert.equal(Buffer.from(await nar.arrayBuffer()), kept.file);
  assert.match(await serverLog(), /swept NAR files no accepted narinfo names/);
});

test("only an admin may run the sweep", async () => {
  const r = await s.api("POST", "/api/v1/storehouse/sweep", undefined, builder);
  assert.is(r.status, 403);
  assert.match(r.body.error.message, /only an admin token may sweep the Storehouse/);
});

test("flox server refuses a --nar-sweep-grace that is not a number of seconds", async () => {
  try {
    await startTestServer({ args: ["--nar-sweep-grace", "soon"] });
    assert.unreachable("the server started");
  } catch (err) {
    assert.match((err as Error).message, /exited with 2/);
    assert.match((err as Error).message, /--nar-sweep-grace "soon" is not a whole number of seconds/);
  }
});

test.run();
