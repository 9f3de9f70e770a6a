// The Storehouse on a real S3 server (Ceph's RADOS Gateway, testing/ceph.ts) behind a real `flox server
// --nar-store s3://…`: stock Nix uploads and substitutes through it, the agent's Range fetch reads one file, a NAR
// bigger than one multipart part goes through whole, a corrupt upload never becomes visible, and the object store
// stopped for 10 s gives 503s in bounded time, then everything resumes.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CacheRemote } from "../../fs-agent/remote.js";
import type { NarListingNode } from "../../lib/nar-listing.js";
import { parseNarInfo } from "../../lib/narinfo.js";
import { projectRoot } from "../../lib/project-root.js";
import { generateKeyPair } from "../../lib/signature.js";
import { type Ceph, startCeph } from "../../testing/ceph.js";
import { createNixTestStore, type NixTestStore } from "../../testing/nix-store.js";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { basic, prepareUpload, type Upload } from "../../testing/storehouse-uploads.js";

let ceph: Ceph;
let bucket: string;
let storeUrl: string;
let s: TestServer;
let src: NixTestStore;
let keyDir: string;
let keyFile: string;
let fleetKey: { secretKey: string; publicKey: string };
let builder: string;
let netrc: string;
let top: string;

test.before(async () => {
  ceph = await startCeph();
  ({ bucket, url: storeUrl } = await ceph.bucketUrl("cache"));
  keyDir = await mkdtemp(join(tmpdir(), "flox-fleet-key-"));
  keyFile = join(keyDir, "secret-key");
  fleetKey = generateKeyPair("fleet-1");
  writeFileSync(keyFile, fleetKey.secretKey, { mode: 0o600 });
  s = await startTestServer({
    // No background sweep during the tests; the one asked for takes what is older than 0 s.
    args: [
      "--nar-store",
      storeUrl,
      "--signing-key",
      keyFile,
      "--nar-sweep-every",
      "86400",
      "--nar-sweep-grace",
      "0",
    ],
    env: ceph.env,
  });
  const b = await s.api("POST", "/api/v1/tokens", { scope: "builder" });
  assert.is(b.status, 201, JSON.stringify(b.body));
  builder = b.body.secret;
  src = await createNixTestStore();
  netrc = join(src.dir, "netrc");
  writeFileSync(netrc, `machine 127.0.0.1 login x password ${builder}\n`);
  top = await src.buildOne(
    `run "flox-s3-top" "mkdir -p $out/share; echo 'hello from the bucket' > $out/share/hello.txt; seq 1 5000 > $out/share/numbers"`,
  );
});

test.after(async () => {
  await s?.stop();
  await src?.cleanup();
  await ceph?.stop();
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
});

const hashOf = (p: string) => p.slice("/nix/store/".length, "/nix/store/".length + 32);

async function keysIn(prefix: string): Promise<string[]> {
  const r = await ceph.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key ?? "");
}

function put(path: string, body: Buffer | string): Promise<Response> {
  return fetch(`${s.url}/cache/${path}`, {
    method: "PUT",
    headers: { authorization: basic(builder) },
    body,
  });
}

async function upload(u: Upload): Promise<Response> {
  const nar = await put(u.info.url, u.file);
  assert.is(nar.status, 201, await nar.text());
  return put(`${u.hash}.narinfo`, u.narinfoText);
}

test("the fleet's --signing-key is used, and no key is made in the data dir", async () => {
  assert.is((await (await fetch(`${s.url}/cache/public-key`)).text()).trim(), fleetKey.publicKey);
  assert.not.ok(
    existsSync(join(s.dataDir, "keys", "secret-key")),
    "a server given a key never makes its own",
  );
});

test("nix copy --to uploads into the bucket; a fresh store substitutes it with signatures required", async () => {
  await src.run("nix", [
    "copy",
    "--option",
    "netrc-file",
    netrc,
    "--to",
    `${s.url}/cache?compression=none`,
    top,
  ]);
  const hash = hashOf(top);
  assert.ok((await keysIn("cache/narinfo/")).includes(`cache/narinfo/${hash}.narinfo`));
  assert.ok((await keysIn("cache/ls/")).includes(`cache/ls/${hash}.ls`));
  const info = parseNarInfo(await (await fetch(`${s.url}/cache/${hash}.narinfo`)).text());
  assert.ok((await keysIn("cache/nar/")).includes(`cache/${info.url}`));
  assert.equal(await keysIn("cache/tmp/"), [], "no temporary upload is left behind");
  // The bytes are in the bucket, not on the server's disk.
  assert.not.ok(existsSync(join(s.dataDir, "store", "nar")));

  const client = await createNixTestStore();
  try {
    await client.substitute(`${s.url}/cache`, fleetKey.publicKey, [top]);
    assert.is(readFileSync(client.realPath(`${top}/share/hello.txt`), "utf8"), "hello from the bucket\n");
    assert.is(await client.run("nix-store", ["--verify-path", top]), "");
  } finally {
    await client.cleanup();
  }
});

test("the agent fetches one file of a NAR by Range, checked against the signed listing", async () => {
  const remote = new CacheRemote({ server: s.url });
  try {
    await remote.start();
    const info = await remote.narInfo(hashOf(top));
    assert.ok(info, "narinfo");
    const listing = await remote.listing(info);
    assert.ok(listing, "a signed listing");
    const share = listing.root.type === "directory" ? listing.root.entries.share : undefined;
    const numbers: NarListingNode | undefined =
      share?.type === "directory" ? share.entries.numbers : undefined;
    assert.ok(numbers?.type === "regular", "share/numbers is a file");
    if (numbers?.type !== "regular") return;
    const chunks: Buffer[] = [];
    for await (const c of await remote.narRange(info, numbers.narOffset, numbers.size))
      chunks.push(c as Buffer);
    const got = Buffer.concat(chunks);
    assert.is(got.toString("utf8"), readFileSync(src.realPath(`${top}/share/numbers`), "utf8"));
    assert.is(remote.counters.rangeRequests, 1);
    assert.is(remote.counters.narRequests, 0, "never the whole NAR");
  } finally {
    remote.close();
  }
});

test("a NAR bigger than a multipart part streams in and out whole", async () => {
  // Random bytes (incompressible), 20 MiB: three parts of 8 MiB on the way in.
  const payload = Buffer.alloc(20 * 1024 * 1024);
  for (let i = 0; i < payload.length; i += 32)
    createHash("sha256").update(String(i)).digest().copy(payload, i);
  const u = await prepareUpload("big-1.0", { blob: payload.toString("latin1") });
  assert.ok(u.file.length > 16 * 1024 * 1024, `${u.file.length} bytes`);
  const res = await upload(u);
  assert.is(res.status, 201, await res.text());
  const head = await ceph.client.send(new HeadObjectCommand({ Bucket: bucket, Key: `cache/${u.info.url}` }));
  assert.is(head.ContentLength, u.file.length);
  const back = Buffer.from(await (await fetch(`${s.url}/cache/${u.info.url}`)).arrayBuffer());
  assert.is(back.length, u.file.length);
  assert.ok(back.equals(u.file), "the same bytes come back");
  const mid = await fetch(`${s.url}/cache/${u.info.url}`, { headers: { range: "bytes=9000000-9000099" } });
  assert.is(mid.status, 206);
  assert.is(mid.headers.get("content-range"), `bytes 9000000-9000099/${u.file.length}`);
  assert.ok(Buffer.from(await mid.arrayBuffer()).equals(u.file.subarray(9_000_000, 9_000_100)));
});

test("a corrupt upload never becomes visible, and what no row names is swept", async () => {
  const u = await prepareUpload("corrupt-1.0", { f: "the real contents\n" });
  const wrong = Buffer.from(u.file);
  wrong.writeUInt8(wrong.readUInt8(wrong.length - 20) ^ 0xff, wrong.length - 20);
  const bad = await put(u.info.url, wrong);
  assert.is(bad.status, 400);
  assert.match(await bad.text(), /sha256 is .* but its name says/);
  assert.is((await fetch(`${s.url}/cache/${u.info.url}`)).status, 404);
  assert.not.ok((await keysIn("cache/nar/")).includes(`cache/${u.info.url}`));
  assert.equal(await keysIn("cache/tmp/"), [], "the temporary upload is gone");

  // A good NAR whose narinfo lies about it: refused, the path never appears, the NAR is swept.
  const liar = await prepareUpload("liar-1.0", { f: "some bytes\n" });
  assert.is((await put(liar.info.url, liar.file)).status, 201);
  const lie = liar.narinfoText.replace(/NarSize: \d+/, `NarSize: ${liar.nar.length + 8}`);
  const refused = await put(`${liar.hash}.narinfo`, lie);
  assert.is(refused.status, 400);
  assert.match(await refused.text(), /NarSize/);
  assert.is((await fetch(`${s.url}/cache/${liar.hash}.narinfo`)).status, 404);
  // Left by a server that died between writing a path's objects and its row, and by an upload cut off.
  const stray = "1".repeat(32);
  for (const key of [`cache/narinfo/${stray}.narinfo`, `cache/ls/${stray}.ls`, "cache/tmp/1-dead.part"])
    await ceph.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "left over" }));
  const swept = await s.api("POST", "/api/v1/storehouse/sweep");
  assert.is(swept.status, 200, JSON.stringify(swept.body));
  assert.ok(swept.body.removed.nars.includes(liar.fileName), JSON.stringify(swept.body));
  assert.equal(swept.body.removed.tmp, ["1-dead.part"]);
  assert.equal(swept.body.removed.unreferenced.sort(), [`ls/${stray}.ls`, `narinfo/${stray}.narinfo`]);
  assert.equal(await keysIn(`cache/narinfo/${stray}`), []);
  assert.not.ok((await keysIn("cache/nar/")).includes(`cache/${liar.info.url}`));
  // What a row names stays.
  assert.is((await fetch(`${s.url}/cache/${hashOf(top)}.narinfo`)).status, 200);
});

test("the object store stopped for 10 s: 503s with a clear message in bounded time, then everything resumes", async () => {
  const before = await prepareUpload("before-1.0", { f: "stored before the outage\n" });
  assert.is((await upload(before)).status, 201);
  const during = await prepareUpload("during-1.0", { f: "uploaded during the outage\n" });

  await ceph.stopGateway();
  const stoppedAt = Date.now();
  try {
    const t0 = Date.now();
    const refused = await put(during.info.url, during.file);
    assert.is(refused.status, 503);
    assert.match(await refused.text(), /object store s3:\/\/.* did not answer .* try again/);
    const read = await fetch(`${s.url}/cache/${before.info.url}`);
    assert.is(read.status, 503);
    assert.match(await read.text(), /did not answer/);
    assert.ok(Date.now() - t0 < 30_000, `both answered within 30 s (took ${Date.now() - t0} ms)`);
    // Lookups that need only the database still answer.
    assert.is((await fetch(`${s.url}/cache/${"0".repeat(32)}.narinfo`)).status, 404);
    assert.is((await s.api("GET", "/api/v1/health")).status, 200);
    await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - stoppedAt))));
  } finally {
    await ceph.startGateway();
  }
  const res = await upload(during);
  assert.is(res.status, 201, await res.text());
  const back = await fetch(`${s.url}/cache/${before.info.url}`);
  assert.is(back.status, 200);
  assert.ok(Buffer.from(await back.arrayBuffer()).equals(before.file));
  assert.is((await fetch(`${s.url}/cache/${during.hash}.narinfo`)).status, 200);
});

test("--nar-redirect answers NAR reads with a presigned URL of the bucket, which nix follows", async () => {
  const r = await startTestServer({
    args: ["--nar-store", storeUrl, "--signing-key", keyFile, "--nar-redirect"],
    env: ceph.env,
  });
  try {
    // Another server on the same bucket (and a fresh database) is sent the same NAR through the API below.
    const u = await prepareUpload("redirected-1.0", { f: "through a presigned URL\n" });
    const tok = await r.api("POST", "/api/v1/tokens", { scope: "builder" });
    const auth = basic(tok.body.secret);
    const put1 = await fetch(`${r.url}/cache/${u.info.url}`, {
      method: "PUT",
      headers: { authorization: auth },
      body: u.file,
    });
    assert.is(put1.status, 201);
    const res = await fetch(`${r.url}/cache/${u.info.url}`, { redirect: "manual" });
    assert.is(res.status, 307);
    const location = res.headers.get("location") ?? "";
    assert.ok(location.startsWith(`${ceph.endpoint}/${bucket}/cache/${u.info.url}?`), location);
    assert.match(location, /X-Amz-Signature=/);
    const followed = await fetch(`${r.url}/cache/${u.info.url}`);
    assert.is(followed.status, 200);
    assert.ok(Buffer.from(await followed.arrayBuffer()).equals(u.file));
    assert.is((await fetch(`${r.url}/cache/nar/${"0".repeat(52)}.nar`, { redirect: "manual" })).status, 404);

    // Stock Nix follows the redirect, signatures checked; the agent's Range fetch does too.
    const rNetrc = join(src.dir, "netrc-r");
    writeFileSync(rNetrc, `machine 127.0.0.1 login x password ${tok.body.secret}\n`);
    await src.run("nix", [
      "copy",
      "--option",
      "netrc-file",
      rNetrc,
      "--to",
      `${r.url}/cache?compression=none`,
      top,
    ]);
    const client = await createNixTestStore();
    try {
      await client.substitute(`${r.url}/cache`, fleetKey.publicKey, [top]);
      assert.is(readFileSync(client.realPath(`${top}/share/hello.txt`), "utf8"), "hello from the bucket\n");
    } finally {
      await client.cleanup();
    }
    const remote = new CacheRemote({ server: r.url });
    try {
      await remote.start();
      const info = await remote.narInfo(hashOf(top));
      assert.ok(info);
      const got: Buffer[] = [];
      // A NAR opens with the 8-byte length 13, then "nix-archive-1".
      for await (const c of await remote.narRange(info, 8, 13)) got.push(c as Buffer);
      assert.is(Buffer.concat(got).toString("latin1"), "nix-archive-1", "bytes 8–20 of the NAR, by Range");
    } finally {
      remote.close();
    }
  } finally {
    await r.stop();
  }
});

test("GC deletes through the bucket: narinfo, listing and NAR of an unreachable path, build log pieces, tarballs", async () => {
  const u = await prepareUpload("collected-1.0", { f: "nothing keeps this\n" });
  assert.is((await upload(u)).status, 201);
  // A log of a build the database does not know and a channel point's tarballs: nothing keeps either.
  const logKeys = ["cache/logs/999999/000000000000000", "cache/logs/999999/000000000000005"];
  const tarKeys = ["cache/channels/999999/nixexprs.tar.xz", "cache/channels/999999/nixexprs.tar.xz.sha256"];
  for (const key of [...logKeys, ...tarKeys])
    await ceph.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: "bytes" }));
  assert.ok((await keysIn("cache/nar/")).includes(`cache/${u.info.url}`));
  assert.equal(await keysIn(`cache/ls/${u.hash}`), [`cache/ls/${u.hash}.ls`, `cache/ls/${u.hash}.ls.sig`]);

  const dry = await s.api("POST", "/api/v1/storehouse/gc", { dryRun: true });
  assert.is(dry.status, 200, JSON.stringify(dry.body));
  assert.ok(dry.body.gc.logs.count >= 1 && dry.body.gc.logs.bytes >= 10, JSON.stringify(dry.body.gc.logs));
  assert.is((await keysIn("cache/logs/999999/")).length, 2, "a dry run deletes nothing");

  const run = await s.api("POST", "/api/v1/storehouse/gc", {});
  assert.is(run.status, 200, JSON.stringify(run.body));
  assert.ok(run.body.gc.paths >= 1 && run.body.gc.bytes >= u.file.length, JSON.stringify(run.body.gc));
  assert.is((await fetch(`${s.url}/cache/${u.hash}.narinfo`)).status, 404);
  assert.equal(await keysIn(`cache/narinfo/${u.hash}`), []);
  assert.equal(await keysIn(`cache/ls/${u.hash}`), []);
  assert.not.ok((await keysIn("cache/nar/")).includes(`cache/${u.info.url}`), "the NAR went last");
  assert.equal(await keysIn("cache/logs/999999/"), [], "every piece of the log");
  assert.equal(await keysIn("cache/channels/999999/"), [], "the tarball and its checksum");
  assert.ok(run.body.gc.tarballs.count >= 1, JSON.stringify(run.body.gc.tarballs));
});

test("a bad --nar-store or a missing --signing-key stops the server with a message saying what to do", async () => {
  const dataDir = await mkdtemp(join(tmpdir(), "flox-s3-bad-"));
  try {
    const bin = join(projectRoot, "cli", "bin", "flox");
    const bad = await execa(
      process.execPath,
      [
        bin,
        "server",
        "--data-dir",
        dataDir,
        "--listen",
        "127.0.0.1:0",
        "--nar-store",
        "s3://X/y?endpoint=nope",
      ],
      { reject: false, timeout: 30_000 },
    );
    assert.is(bad.exitCode, 2);
    assert.match(bad.stderr, /"X" is not a bucket name/);
    const missing = await execa(
      process.execPath,
      [
        bin,
        "server",
        "--data-dir",
        dataDir,
        "--listen",
        "127.0.0.1:0",
        "--signing-key",
        join(dataDir, "none"),
      ],
      { reject: false, timeout: 30_000 },
    );
    assert.is(missing.exitCode, 1);
    assert.match(missing.stderr, /does not exist; make one with `nix-store --generate-binary-cache-key/);
    assert.not.ok(existsSync(join(dataDir, "keys", "secret-key")));
    const noBucket = await execa(
      process.execPath,
      [
        bin,
        "server",
        "--data-dir",
        dataDir,
        "--listen",
        "127.0.0.1:0",
        "--nar-store",
        `s3://no-such-bucket?endpoint=${ceph.endpoint}`,
      ],
      { reject: false, timeout: 60_000, env: ceph.env },
    );
    assert.is(noBucket.exitCode, 2, noBucket.stderr);
    assert.match(noBucket.stderr, /the bucket "no-such-bucket" does not exist; create it first/);
    const wrongSecret = await execa(
      process.execPath,
      [bin, "server", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--nar-store", storeUrl],
      { reject: false, timeout: 60_000, env: { ...ceph.env, AWS_SECRET_ACCESS_KEY: "not-the-secret" } },
    );
    assert.is(wrongSecret.exitCode, 2, wrongSecret.stderr);
    assert.match(wrongSecret.stderr, /check AWS_SECRET_ACCESS_KEY/);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test.run();
