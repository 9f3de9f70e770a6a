// The Storehouse's background upkeep on a real server: NARs whose narinfo was refused are swept, NARs an accepted
// narinfo names stay; a NAR file corrupted on disk is quarantined and its narinfo answers 404.
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { basic, prepareUpload, type Upload } from "../../testing/storehouse-uploads.js";
import { waitFor } from "../../testing/wait-for.js";

let s: TestServer;
let builder: string;
/** Each server's builder token. */
const builders = new Map<TestServer, string>();

test.before(async () => {
  // No grace: an orphan is swept as soon as it is one (the default keeps it an hour for uploads in flight).
  s = await startTestServer({ args: ["--nar-sweep-grace", "0"] });
  const b = await s.api("POST", "/api/v1/tokens", { scope: "builder", name: "builder-1" });
  assert.is(b.status, 201, JSON.stringify(b.body));
  builder = b.body.secret;
  builders.set(s, builder);
});

test.after(async () => {
  await s.stop();
});

function put(path: string, body: string | Buffer, srv: TestServer = s): Promise<Response> {
  return fetch(`${srv.url}/cache/${path}`, {
    method: "PUT",
    body,
    headers: { authorization: basic(builders.get(srv) ?? "") },
  });
}

async function putNar(u: Upload, srv: TestServer = s): Promise<void> {
  const r = await put(u.info.url, u.file, srv);
  assert.is(r.status, 201, await r.text());
}

/** NAR, then narinfo, as `nix copy --to` sends them; the path is then served. */
async function uploadPath(u: Upload, srv: TestServer = s): Promise<void> {
  await putNar(u, srv);
  const r = await put(`${u.hash}.narinfo`, u.narinfoText, srv);
  assert.is(r.status, 201, await r.text());
  assert.is((await fetch(`${srv.url}/cache/${u.hash}.narinfo`)).status, 200);
}

const narFile = (u: Upload, srv: TestServer = s) => join(srv.dataDir, "store", "nar", u.fileName);

/** Flips one byte of the NAR file in the middle, as disk rot would. */
async function corrupt(u: Upload, srv: TestServer = s): Promise<void> {
  const bytes = await readFile(narFile(u, srv));
  const at = Math.floor(bytes.length / 2);
  bytes[at] = (bytes[at] ?? 0) ^ 0xff;
  await writeFile(narFile(u, srv), bytes);
}
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

test("a NAR file corrupted on disk is quarantined by the check and its narinfo answers 404", async () => {
  const good = await prepareUpload("good-1.0", { "share/good": "good\n" });
  const rotten = await prepareUpload("rotten-1.0", { "share/rotten": "x".repeat(10_000) });
  await uploadPath(good);
  await uploadPath(rotten);
  await corrupt(rotten);
  // Before the check the bad bytes would go out as immutable.
  assert.is((await fetch(`${s.url}/cache/${rotten.info.url}`, { method: "HEAD" })).status, 200);

  const r = await s.api("POST", "/api/v1/storehouse/verify");
  assert.is(r.status, 200, JSON.stringify(r.body));
  assert.equal(
    r.body.quarantined.map((q: { storePaths: string[] }) => q.storePaths),
    [[rotten.storePath]],
  );
  assert.match(r.body.quarantined[0].reason, /its sha256 is \S+, its name says/);
  assert.ok(r.body.checked >= 2);

  assert.is((await fetch(`${s.url}/cache/${rotten.hash}.narinfo`)).status, 404);
  assert.is((await fetch(`${s.url}/cache/${rotten.hash}.ls`)).status, 404);
  assert.is((await fetch(`${s.url}/cache/${rotten.info.url}`)).status, 404);
  assert.not.ok(existsSync(narFile(rotten)));
  assert.ok(existsSync(join(s.dataDir, "store", "quarantine", rotten.fileName)));
  assert.match(await serverLog(), /NAR file corrupt on disk: quarantined/);
  assert.match(await serverLog(), rotten.storePath);
  assert.is((await fetch(`${s.url}/cache/${good.hash}.narinfo`)).status, 200);
  assert.is((await fetch(`${s.url}/cache/${good.info.url}`)).status, 200);

  // A builder can upload the path again, and it is served again.
  await uploadPath(rotten);
  const nar = await fetch(`${s.url}/cache/${rotten.info.url}`);
  assert.equal(Buffer.from(await nar.arrayBuffer()), rotten.file);
});

test("the check also runs on its own schedule (--nar-verify-every)", async () => {
  const other = await startTestServer({ args: ["--nar-verify-every", "1"] });
  try {
    const b = await other.api("POST", "/api/v1/tokens", { scope: "builder", name: "b" });
    builders.set(other, b.body.secret);
    const u = await prepareUpload("scheduled-1.0", { "share/f": "scheduled\n" }, { compression: "br" });
    await uploadPath(u, other);
    await corrupt(u, other);
    await waitFor("the scheduled check to quarantine the NAR", async () => {
      return (await fetch(`${other.url}/cache/${u.hash}.narinfo`)).status === 404;
    });
    assert.ok(existsSync(join(other.dataDir, "store", "quarantine", u.fileName)));
  } finally {
    await other.stop();
  }
});

test("only an admin may run the check", async () => {
  const r = await s.api("POST", "/api/v1/storehouse/verify", undefined, builder);
  assert.is(r.status, 403);
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
