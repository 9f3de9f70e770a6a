// The raw-HTTP fast path (cache-fast-path.ts) against the real server: it answers as hono does (headers, ranges,
// 304s, HEAD), leaves what it cannot decide to hono, and never lets a private cache be read without a good token.
import { createHash } from "node:crypto";
import { request } from "node:http";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startTestServer } from "../../testing/server.js";
import { basic, prepareUpload, type Upload } from "../../testing/storehouse-uploads.js";
import { GRANT_MS } from "./read-grants.js";

async function uploadAs(url: string, token: string, u: Upload): Promise<void> {
  for (const [path, body] of [
    [u.info.url, u.file],
    [`${u.hash}.narinfo`, u.narinfoText],
  ] as const) {
    const res = await fetch(`${url}/cache/${path}`, {
      method: "PUT",
      body,
      headers: { authorization: basic(token) },
    });
    assert.is(res.status, 201, await res.text());
  }
}

/** Several 1 MiB chunks of bytes that differ everywhere, so a misplaced chunk cannot go unnoticed. */
function patterned(bytes: number): string {
  const out: string[] = [];
  for (let i = 0; out.length * 64 < bytes; i++)
    out.push(createHash("sha256").update(String(i)).digest("hex"));
  return out.join("").slice(0, bytes);
}

const SAME_HEADERS = ["content-type", "etag", "cache-control", "content-length", "accept-ranges"];

test("narinfos and NARs from the fast path: the same bytes and headers as hono's, every range rule kept", async () => {
  const s = await startTestServer();
  try {
    const b = await s.api("POST", "/api/v1/tokens", { scope: "builder" });
    const u = await prepareUpload("fast-1.0", { data: patterned(3 * 1024 * 1024 + 12345) });
    await uploadAs(s.url, b.body.secret, u);
    const nar = u.file;
    const cache = (path: string, init: RequestInit = {}) => fetch(`${s.url}/cache/${path}`, init);

    // The first read goes through hono (which fills the memory), the second is answered from memory.
    const first = await cache(`${u.hash}.narinfo`);
    const firstText = await first.text();
    const second = await cache(`${u.hash}.narinfo`);
    assert.is(second.status, 200);
    assert.is(await second.text(), firstText);
    for (const h of SAME_HEADERS) assert.is(second.headers.get(h), first.headers.get(h), h);
    const etag = second.headers.get("etag") ?? "";
    assert.is(
      (await cache(`${u.hash}.narinfo`, { headers: { "if-none-match": `"x", ${etag}` } })).status,
      304,
    );
    const head = await cache(`${u.hash}.narinfo`, { method: "HEAD" });
    assert.is(head.headers.get("content-length"), String(Buffer.byteLength(firstText)));
    assert.is(await head.text(), "");

    const whole = await cache(u.info.url);
    assert.is(whole.status, 200);
    assert.is(whole.headers.get("content-type"), "application/x-nix-nar");
    assert.is(whole.headers.get("content-length"), String(nar.length));
    assert.match(whole.headers.get("cache-control") ?? "", /^public, .*immutable/);
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(nar), "the whole NAR, chunk by chunk in order");
    const narEtag = whole.headers.get("etag") ?? "";
    assert.is(narEtag, `"${u.info.url.slice(4, 56)}"`);

    const part = async (range: string, headers: Record<string, string> = {}) => {
      const res = await cache(u.info.url, { headers: { range, ...headers } });
      return { res, body: Buffer.from(await res.arrayBuffer()) };
    };
    const mib = 1024 * 1024;
    const across = await part(`bytes=${mib - 10}-${2 * mib + 9}`);
    assert.is(across.res.status, 206);
    assert.is(across.res.headers.get("content-range"), `bytes ${mib - 10}-${2 * mib + 9}/${nar.length}`);
    assert.ok(across.body.equals(nar.subarray(mib - 10, 2 * mib + 10)), "a range across chunk boundaries");
    const open = await part("bytes=3000000-");
    assert.is(open.res.status, 206);
    assert.ok(open.body.equals(nar.subarray(3000000)));
    const clipped = await part(`bytes=10-${nar.length * 2}`);
    assert.is(clipped.res.headers.get("content-range"), `bytes 10-${nar.length - 1}/${nar.length}`);
    assert.ok(clipped.body.equals(nar.subarray(10)));
    const suffix = await part("bytes=-100");
    assert.ok(suffix.body.equals(nar.subarray(-100)));
    const longSuffix = await part(`bytes=-${nar.length + 5}`);
    assert.is(longSuffix.res.status, 206);
    assert.ok(longSuffix.body.equals(nar));
    const lastByte = await part(`bytes=${nar.length - 1}-${nar.length - 1}`);
    assert.is(lastByte.res.headers.get("content-length"), "1");
    assert.ok(lastByte.body.equals(nar.subarray(-1)));
    for (const unsatisfiable of ["bytes=-0", `bytes=${nar.length}-`]) {
      const r = await part(unsatisfiable);
      assert.is(r.res.status, 416, unsatisfiable);
      assert.is(r.res.headers.get("content-range"), `bytes */${nar.length}`);
      assert.is(r.body.length, 0);
    }
    // What is not one plain range gets the whole file, as from hono.
    for (const odd of ["bytes=5-2", "bytes=0-1,5-6", "items=0-5", "bytes=-"]) {
      const r = await part(odd);
      assert.is(r.res.status, 200, odd);
      assert.is(r.body.length, nar.length, odd);
    }
    assert.is((await part("bytes=0-9", { "if-range": '"another"' })).res.status, 200, "a stale If-Range");
    assert.is((await part("bytes=0-9", { "if-range": narEtag })).body.length, 10);
    const headRange = await cache(u.info.url, { method: "HEAD", headers: { range: "bytes=0-99" } });
    assert.is(headRange.status, 206);
    assert.is(headRange.headers.get("content-length"), "100");
    assert.is(await headRange.text(), "");
    assert.is(
      (await cache(u.info.url, { method: "HEAD", headers: { "if-none-match": narEtag } })).status,
      304,
    );

    // What the fast path cannot answer goes on to hono, in hono's words.
    const absent = await cache(`${"0".repeat(52)}.nar`);
    assert.is(absent.status, 404);
    assert.match(await absent.text(), /is not in this cache/);
    const unknownInfo = await cache(`${"1".repeat(32)}.narinfo`);
    assert.is(unknownInfo.status, 404);
    assert.match(await unknownInfo.text(), /is not in this cache/);
    const post = await cache(u.info.url, { method: "POST" });
    assert.is(post.status, 404);

    // A client that hangs up mid-NAR costs the server nothing: it keeps answering.
    await new Promise<void>((resolve, reject) => {
      const req = request(`${s.url}/cache/${u.info.url}`, (res) => {
        res.once("data", () => {
          req.destroy();
          resolve();
        });
      });
      req.on("error", (err) => (req.destroyed ? undefined : reject(err)));
      req.end();
    });
    const after = await cache(u.info.url, { headers: { range: "bytes=0-3" } });
    assert.is(after.status, 206);
    assert.ok(Buffer.from(await after.arrayBuffer()).equals(nar.subarray(0, 4)));
    assert.not.match(s.stderr(), /cache request failed/);
  } finally {
    await s.stop();
  }
});

test("--private-cache on the fast path: no NAR or narinfo without a good token, and a revoked one soon stops", async () => {
  const s = await startTestServer({ args: ["--private-cache"] });
  try {
    const b = await s.api("POST", "/api/v1/tokens", { scope: "builder" });
    const builder: string = b.body.secret;
    const u = await prepareUpload("private-fast", { data: patterned(200_000) });
    await uploadAs(s.url, builder, u);
    const get = (path: string, authorization?: string, init: RequestInit = {}) =>
      fetch(`${s.url}/cache/${path}`, { ...init, headers: authorization ? { authorization } : {} });

    // Warm both paths with a good token: the narinfo is in memory and the header's "yes" is remembered.
    for (let i = 0; i < 2; i++) {
      assert.is((await get(`${u.hash}.narinfo`, basic(builder))).status, 200);
      const nar = await get(u.info.url, basic(builder));
      assert.is(nar.status, 200);
      assert.match(nar.headers.get("cache-control") ?? "", /^private/);
      assert.ok(Buffer.from(await nar.arrayBuffer()).equals(u.file));
    }
    for (const path of [`${u.hash}.narinfo`, u.info.url]) {
      for (const method of ["GET", "HEAD"]) {
        const anon = await get(path, undefined, { method });
        assert.is(anon.status, 401, `anonymous ${method} ${path}`);
        assert.match(anon.headers.get("www-authenticate") ?? "", /Basic/);
        assert.is((await get(path, basic("flox_wrong"), { method })).status, 401, `a wrong token, ${method}`);
        assert.is((await get(path, `Bearer ${builder}x`, { method })).status, 401, "a longer secret");
      }
    }
    const ranged = await fetch(`${s.url}/cache/${u.info.url}`, { headers: { range: "bytes=0-9" } });
    assert.is(ranged.status, 401, "an anonymous range request");

    // A token that read a moment ago and is then revoked reads no more once the remembered "yes" has lapsed.
    const r = await s.api("POST", "/api/v1/tokens", { scope: "builder", name: "soon-revoked" });
    const reader: string = r.body.secret;
    assert.is((await get(u.info.url, `Bearer ${reader}`)).status, 200);
    assert.is((await get(u.info.url, `Bearer ${reader}`)).status, 200);
    assert.is((await s.api("DELETE", `/api/v1/tokens/${r.body.token.id}`)).status, 204);
    await new Promise((resolve) => setTimeout(resolve, GRANT_MS + 500));
    assert.is((await get(u.info.url, `Bearer ${reader}`)).status, 401, "the NAR, revoked");
    assert.is((await get(`${u.hash}.narinfo`, `Bearer ${reader}`)).status, 401, "the narinfo, revoked");
    assert.is((await get(u.info.url, `Bearer ${builder}`)).status, 200, "others still read");
  } finally {
    await s.stop();
  }
});

test.run();
