import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseNarInfo, serializeNarInfo } from "../../lib/narinfo.js";
import { encodeNix32 } from "../../lib/nix32.js";
import {
  LISTING_SIGNATURE_HEADER,
  listingFingerprint,
  verifyNarInfo,
  verifySignature,
} from "../../lib/signature.js";
import { rawRequest, startTestServer, type TestServer } from "../../testing/server.js";
import { basic, prepareUpload, type Upload } from "../../testing/storehouse-uploads.js";

let s: TestServer;
let builder: string;
let member: string;

test.before(async () => {
  s = await startTestServer();
  const b = await s.api("POST", "/api/v1/tokens", { scope: "builder", name: "builder-1" });
  assert.is(b.status, 201, JSON.stringify(b.body));
  builder = b.body.secret;
  assert.is((await s.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  const m = await s.api("POST", "/api/v1/tokens", { scope: "org", org: "acme", role: "member" });
  assert.is(m.status, 201, JSON.stringify(m.body));
  member = m.body.secret;
});
test.after(async () => {
  await s.stop();
});

function cache(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${s.url}/cache/${path}`, init);
}

function put(path: string, body: string | Buffer, token: string | null = builder): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = basic(token);
  return cache(path, { method: "PUT", body, headers });
}

async function upload(u: Upload, narinfo = u.narinfoText): Promise<Response> {
  const nar = await put(u.info.url, u.file);
  assert.ok(nar.status === 201 || nar.status === 200, `NAR upload: ${nar.status} ${await nar.text()}`);
  return put(`${u.hash}.narinfo`, narinfo);
}

test("nix-cache-info and the public key", async () => {
  const info = await cache("nix-cache-info");
  assert.is(info.status, 200);
  assert.is(await info.text(), "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n");
  const head = await cache("nix-cache-info", { method: "HEAD" });
  assert.is(head.status, 200);
  assert.is(await head.text(), "");
  const key = (await (await cache("public-key")).text()).trim();
  assert.match(key, /^flox-[A-Za-z0-9.-]+-1:[A-Za-z0-9+/]{43}=$/);
  assert.is(readFileSync(join(s.dataDir, "keys", "public-key"), "utf8").trim(), key);
  assert.is(statSync(join(s.dataDir, "keys", "secret-key")).mode & 0o777, 0o600);
  assert.ok(readFileSync(join(s.dataDir, "keys", "secret-key"), "utf8").startsWith(key.split(":")[0] ?? "?"));
});

test("an upload is verified, signed, and served with cache headers, ETags and ranges", async () => {
  const dep = await prepareUpload("dep-1.0", { "lib/data": "dependency\n" });
  assert.is((await upload(dep)).status, 201);
  const top = await prepareUpload(
    "top-1.0",
    {
      "bin/run": { executable: "#!/bin/sh\necho hi\n" },
      "share/doc": "x".repeat(5000),
      link: { symlink: "bin/run" },
    },
    { references: [`${dep.hash}-dep-1.0`], compression: "br" },
  );
  const res = await upload(top);
  assert.is(res.status, 201, await res.text());
  // A second upload of an accepted path changes nothing.
  assert.is((await put(`${top.hash}.narinfo`, top.narinfoText)).status, 200);

  const got = await cache(`${top.hash}.narinfo`);
  assert.is(got.status, 200);
  assert.is(got.headers.get("content-type"), "text/x-nix-narinfo");
  assert.match(got.headers.get("cache-control") ?? "", /max-age=31536000.*immutable/);
  assert.is(got.headers.get("content-encoding"), null);
  const text = await got.text();
  const info = parseNarInfo(text);
  const key = (await (await cache("public-key")).text()).trim();
  assert.ok(verifyNarInfo(info, [key]), "signed by the server key");
  assert.equal(info.references, [`${dep.hash}-dep-1.0`]);
  assert.is(info.narHash, top.info.narHash);
  assert.is(serializeNarInfo(info), text);

  const etag = got.headers.get("etag");
  assert.match(etag ?? "", /^"[^"]+"$/);
  const cached = await cache(`${top.hash}.narinfo`, { headers: { "if-none-match": etag ?? "" } });
  assert.is(cached.status, 304);
  const headInfo = await cache(`${top.hash}.narinfo`, { method: "HEAD" });
  assert.is(headInfo.status, 200);
  assert.is(headInfo.headers.get("content-length"), String(Buffer.byteLength(text)));
  assert.is(await headInfo.text(), "");

  const nar = await cache(top.info.url);
  assert.is(nar.status, 200);
  assert.is(nar.headers.get("accept-ranges"), "bytes");
  assert.is(nar.headers.get("content-encoding"), null);
  assert.match(nar.headers.get("cache-control") ?? "", /immutable/);
  assert.ok(Buffer.from(await nar.arrayBuffer()).equals(top.file));
  const narEtag = nar.headers.get("etag") ?? "";
  assert.is((await cache(top.info.url, { headers: { "if-none-match": narEtag } })).status, 304);

  const part = await cache(top.info.url, { headers: { range: "bytes=10-99" } });
  assert.is(part.status, 206);
  assert.is(part.headers.get("content-range"), `bytes 10-99/${top.file.length}`);
  assert.ok(Buffer.from(await part.arrayBuffer()).equals(top.file.subarray(10, 100)));
  const tail = await cache(top.info.url, { headers: { range: "bytes=-7" } });
  assert.is(tail.status, 206);
  assert.ok(Buffer.from(await tail.arrayBuffer()).equals(top.file.subarray(-7)));
  const beyond = await cache(top.info.url, { headers: { range: `bytes=${top.file.length}-` } });
  assert.is(beyond.status, 416);
  assert.is(beyond.headers.get("content-range"), `bytes */${top.file.length}`);
  const head = await cache(top.info.url, { method: "HEAD" });
  assert.is(head.status, 200);
  assert.is(head.headers.get("content-length"), String(top.file.length));
  assert.is(await head.text(), "");
});

test("gzip NARs are verified too", async () => {
  const u = await prepareUpload("gz", { a: "gzip me\n".repeat(100) }, { compression: "gzip" });
  const res = await upload(u);
  assert.is(res.status, 201, await res.text());
  assert.is(parseNarInfo(await (await cache(`${u.hash}.narinfo`)).text()).compression, "gzip");
});

test("a narinfo that does not match its NAR is refused and never served", async () => {
  const u = await prepareUpload("liar", { a: "real contents\n" });
  const other = await prepareUpload("other", { a: "other contents\n" });
  const badHash = serializeNarInfo({ ...u.info, narHash: other.info.narHash });
  const res = await upload(u, badHash);
  assert.is(res.status, 400);
  const msg = await res.text();
  assert.match(msg, /NarHash/);
  assert.ok(msg.includes(u.info.narHash), msg);
  assert.is((await cache(`${u.hash}.narinfo`)).status, 404);

  const badSize = serializeNarInfo({ ...u.info, narSize: u.info.narSize + 8 });
  const r2 = await put(`${u.hash}.narinfo`, badSize);
  assert.is(r2.status, 400);
  assert.match(await r2.text(), new RegExp(`NarSize: expected ${u.info.narSize}`));
  const badFile = serializeNarInfo({ ...u.info, fileSize: 3 });
  const r3 = await put(`${u.hash}.narinfo`, badFile);
  assert.is(r3.status, 400);
  assert.match(await r3.text(), /FileSize/);
  const wrongPlace = await put(`${other.hash}.narinfo`, u.narinfoText);
  assert.is(wrongPlace.status, 400);
  assert.match(await wrongPlace.text(), /StorePath/);
  assert.is((await cache(`${u.hash}.narinfo`)).status, 404);
  assert.is((await cache(`${other.hash}.narinfo`)).status, 404);
});

test("a narinfo whose NAR or references are missing is refused", async () => {
  const missingRef = await prepareUpload(
    "needs-dep",
    { a: "x" },
    { references: [`${"1".repeat(32)}-ghost`] },
  );
  const res = await upload(missingRef);
  assert.is(res.status, 400);
  assert.match(await res.text(), /References: .*ghost is not in the Storehouse/);
  assert.is((await cache(`${missingRef.hash}.narinfo`)).status, 404);

  const noNar = await prepareUpload("no-nar", { a: "y" });
  const r2 = await put(`${noNar.hash}.narinfo`, noNar.narinfoText);
  assert.is(r2.status, 400);
  assert.match(await r2.text(), /URL: .* has not been uploaded/);

  const xz = await prepareUpload("xz", { a: "z" });
  const xzInfo = serializeNarInfo({ ...xz.info, compression: "xz" });
  const r3 = await upload(xz, xzInfo);
  assert.is(r3.status, 400);
  assert.match(await r3.text(), /Compression 'xz' cannot be verified/);
  const r4 = await put(`nar/${"a".repeat(52)}.nar.xz`, "whatever");
  assert.is(r4.status, 400);
});

test("a NAR whose bytes do not hash to its name is refused", async () => {
  const u = await prepareUpload("n", { a: "1" });
  const res = await put(u.info.url, Buffer.concat([u.file, Buffer.from("x")]));
  assert.is(res.status, 400);
  assert.match(await res.text(), /sha256/);
  assert.is((await cache(u.info.url)).status, 404);
  const garbage = Buffer.from("not a nar at all");
  const { nix32Sha256 } = await import("../../testing/storehouse-uploads.js");
  const name = `nar/${nix32Sha256(garbage)}.nar`;
  assert.is((await put(name, garbage)).status, 201);
  const r2 = await put(
    `${u.hash}.narinfo`,
    serializeNarInfo({ ...u.info, url: name, fileHash: undefined, fileSize: undefined }),
  );
  assert.is(r2.status, 400);
  assert.match(await r2.text(), /not a valid NAR/);
});

test("uploads need a builder or admin token", async () => {
  const u = await prepareUpload("auth", { a: "auth" });
  const anon = await put(u.info.url, u.file, null);
  assert.is(anon.status, 401);
  assert.match(anon.headers.get("www-authenticate") ?? "", /Basic/);
  assert.is((await put(u.info.url, u.file, "flox_not-a-real-token")).status, 401);
  assert.is((await put(u.info.url, u.file, member)).status, 403);
  assert.is((await put(`${u.hash}.narinfo`, u.narinfoText, member)).status, 403);
  const bearer = await cache(u.info.url, {
    method: "PUT",
    body: u.file,
    headers: { authorization: `Bearer ${s.adminToken}` },
  });
  assert.is(bearer.status, 201);
  assert.is((await put(`${u.hash}.narinfo`, u.narinfoText, s.adminToken)).status, 201);
  // Reads are public by default.
  assert.is((await cache(`${u.hash}.narinfo`)).status, 200);
});

test("a .ls listing is served once its path is accepted, rebuilt from the verified NAR", async () => {
  const u = await prepareUpload("listed", { "bin/tool": { executable: "tool" }, "etc/conf": "a=1\n" });
  const fake = JSON.stringify({ version: 1, root: { type: "directory", entries: {} } });
  assert.is((await put(`${u.hash}.ls`, fake)).status, 201);
  assert.is((await cache(`${u.hash}.ls`)).status, 404);
  assert.is((await put(`${u.hash}.ls`, "{not json")).status, 400);
  assert.is((await upload(u)).status, 201);
  const ls = await cache(`${u.hash}.ls`);
  assert.is(ls.status, 200);
  const listing = JSON.parse(await ls.text());
  const tool = listing.root.entries.bin.entries.tool;
  assert.is(tool.executable, true);
  assert.ok(u.nar.subarray(tool.narOffset, tool.narOffset + tool.size).equals(Buffer.from("tool")));
  assert.is(tool.sha256, encodeNix32(createHash("sha256").update("tool").digest()));
  assert.is((await cache(`${u.hash}.ls`, { method: "HEAD" })).status, 200);
});

test("every accepted path has a listing signed with the server's key, bound to its NAR hash", async () => {
  const u = await prepareUpload("signed-ls", { "share/a": "a\n", "bin/b": { executable: "b" } });
  assert.is((await upload(u)).status, 201);
  const ls = await cache(`${u.hash}.ls`);
  assert.is(ls.status, 200);
  const body = Buffer.from(await ls.arrayBuffer());
  const sig = ls.headers.get(LISTING_SIGNATURE_HEADER) ?? "";
  const key = (await (await cache("public-key")).text()).trim();
  const info = parseNarInfo(await (await cache(`${u.hash}.narinfo`)).text());
  assert.ok(verifySignature([key], listingFingerprint(info.storePath, info.narHash, body), sig));
  // Bound to these bytes and this path: any other listing or path fails.
  const altered = Buffer.from(body.toString("utf8").replace('"size":2', '"size":3'));
  assert.not.ok(verifySignature([key], listingFingerprint(info.storePath, info.narHash, altered), sig));
  const other = info.storePath.replace("signed-ls", "signed-lt");
  assert.not.ok(verifySignature([key], listingFingerprint(other, info.narHash, body), sig));
  // The signature comes with a revalidation too, so a client cache can keep both.
  const again = await cache(`${u.hash}.ls`, { headers: { "if-none-match": ls.headers.get("etag") ?? "" } });
  assert.is(again.status, 304);
  assert.is(again.headers.get(LISTING_SIGNATURE_HEADER), sig);
});

function walk(dir: string, root = dir, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    out.push(relative(root, full));
    if (entry.isDirectory()) walk(full, root, out);
  }
  return out;
}

test("hostile paths and bodies never crash the server or write outside DIR/store", async () => {
  const before = walk(s.dataDir).filter((p) => !p.startsWith("store/"));
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pieces = [
    "..",
    "%2e%2e",
    "%2f",
    "/",
    "nar",
    ".narinfo",
    ".ls",
    ".nar",
    ".br",
    "%00",
    "a".repeat(300),
    "0".repeat(32),
    "0".repeat(52),
    "~",
    "%",
    "etc",
    "passwd",
    "keys",
  ];
  const paths: string[] = [];
  for (let i = 0; i < 150; i++) {
    let p = "/cache/";
    const n = 1 + rand(5);
    for (let j = 0; j < n; j++) p += pieces[rand(pieces.length)];
    paths.push(p);
  }
  paths.push(
    "/cache/../keys/secret-key",
    "/cache/nar/..%2f..%2fkeys%2fsecret-key",
    "/cache/%2e%2e/%2e%2e/db.sqlite",
    `/cache/nar/${"z".repeat(5000)}`,
  );
  for (const [i, path] of paths.entries()) {
    const method = ["GET", "HEAD", "PUT"][i % 3] as string;
    const body =
      method === "PUT" ? Buffer.from(Array.from({ length: rand(2000) }, () => rand(256))) : undefined;
    const headers: Record<string, string> = { authorization: basic(builder) };
    if (body) headers["content-length"] = String(body.length);
    const res = await rawRequest(s.port, method, path, headers, body);
    assert.ok(res.status < 500, `${method} ${path} → ${res.status} ${res.body}`);
    assert.ok(
      !res.body.includes("PRIVATE") && !/flox-.*-1:[A-Za-z0-9+/]{86}/.test(res.body),
      "no secret key leaks",
    );
  }
  // Random bodies on well-formed names: refused as what they are, never a crash.
  for (let i = 0; i < 20; i++) {
    const body = Buffer.from(Array.from({ length: rand(4000) }, () => rand(256)));
    const name = i % 2 ? `${"1".repeat(32)}.narinfo` : `${"2".repeat(32)}.ls`;
    const res = await rawRequest(
      s.port,
      "PUT",
      `/cache/${name}`,
      { authorization: basic(builder), "content-length": String(body.length) },
      body,
    );
    assert.is(res.status, 400, res.body);
  }
  const after = walk(s.dataDir).filter((p) => !p.startsWith("store/"));
  assert.equal(
    after.filter((p) => !before.includes(p)),
    [],
  );
  const store = walk(join(s.dataDir, "store"));
  assert.ok(
    store.every((p) => /^(nar|narinfo|ls|tmp)(\/|$)/.test(p)),
    store.join(" "),
  );
  assert.equal(readdirSync(join(s.dataDir, "store", "tmp")), []);
  assert.is((await fetch(`${s.url}/api/v1/health`)).status, 200);
});

test.run();
