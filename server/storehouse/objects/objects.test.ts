// One suite for both object stores (a directory, and an S3 bucket on a real Ceph RADOS Gateway): whatever the
// Storehouse, build logs and channels do with one must work the same on the other.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Ceph, startCeph } from "../../../testing/ceph.js";
import { BuildLogs } from "../../builds/build-log.js";
import { moveLegacyLogs } from "../../builds/legacy-logs.js";
import { channelExpression, channelTarball } from "../../channels/tarball.js";
import { FileObjectStore } from "./file.js";
import { type ObjectStore, UnsatisfiableRangeError } from "./object-store.js";
import { openObjectStore, parseS3Url } from "./open.js";

let ceph: Ceph;
let dir: string;
const stores: [string, () => ObjectStore][] = [];
const made: ObjectStore[] = [];

test.before(async () => {
  ceph = await startCeph();
  dir = await mkdtemp(join(tmpdir(), "flox-objects-"));
  const { url } = await ceph.bucketUrl("some/prefix");
  Object.assign(process.env, ceph.env);
  const open = (u: string) => () => {
    const s = openObjectStore(u, "/nonexistent");
    made.push(s);
    return s;
  };
  stores.push(["file", open(`file:${dir}`)], ["s3", open(url)]);
});

test.after(async () => {
  for (const s of made) s.close();
  await ceph?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function text(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function keys(s: ObjectStore, prefix: string, after?: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of s.list(prefix, after)) out.push(o.key);
  return out;
}

test("put, head, get with ranges, list, move and delete behave alike", async () => {
  for (const [name, open] of stores) {
    const s = open();
    const at = `${name}: `;
    await s.put("a/one", "0123456789");
    await s.put("a/two", Buffer.from("two"));
    await s.put("a/sub/three", Readable.from([Buffer.from("thr"), Buffer.from("ee")]));
    await s.put("b/other", "x");
    assert.is((await s.head("a/one"))?.size, 10, at);
    assert.is(await s.head("a/none"), undefined, at);
    assert.is(await s.get("a/none"), undefined, at);
    const whole = await s.get("a/one");
    assert.is(await text(whole?.body ?? Readable.from([])), "0123456789", at);
    assert.is(whole?.range, undefined, at);
    const mid = await s.get("a/one", { first: 2, last: 4 });
    assert.equal(mid?.range, { start: 2, end: 4 }, at);
    assert.is(mid?.meta.size, 10, at);
    assert.is(await text(mid?.body ?? Readable.from([])), "234", at);
    const tail = await s.get("a/one", { suffix: 3 });
    assert.is(await text(tail?.body ?? Readable.from([])), "789", at);
    const open_ = await s.get("a/one", { first: 7 });
    assert.is(await text(open_?.body ?? Readable.from([])), "789", at);
    try {
      await s.get("a/one", { first: 10 });
      assert.unreachable(`${at}a range past the end`);
    } catch (err) {
      assert.instance(err, UnsatisfiableRangeError, at);
      assert.is((err as UnsatisfiableRangeError).size, 10, at);
    }
    assert.equal(await keys(s, "a/"), ["a/one", "a/sub/three", "a/two"], at);
    assert.equal(await keys(s, "a/", "a/one"), ["a/sub/three", "a/two"], at);
    await s.move("a/two", "c/moved");
    assert.is(await s.head("a/two"), undefined, at);
    assert.is(await text((await s.get("c/moved"))?.body ?? Readable.from([])), "two", at);
    // Replacing keeps one object under the key, with the new bytes.
    await s.put("c/moved", "again");
    assert.is((await s.head("c/moved"))?.size, 5, at);
    await s.delete("c/moved");
    await s.delete("c/moved");
    assert.is(await s.head("c/moved"), undefined, at);
  }
});

test("a failed upload leaves nothing under its key", async () => {
  for (const [name, open] of stores) {
    const s = open();
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1024, 1));
        this.destroy(new Error("the client went away"));
      },
    });
    let failed = false;
    try {
      await s.put("f/partial", failing);
    } catch {
      failed = true;
    }
    assert.ok(failed, `${name}: the put failed`);
    assert.is(await s.head("f/partial"), undefined, name);
  }
});

test("keys that could escape the store are refused", async () => {
  const s = new FileObjectStore(dir);
  for (const bad of ["../x", "a/../../x", "/abs", "a//b", ""]) {
    let refused = false;
    try {
      await s.head(bad);
    } catch {
      refused = true;
    }
    assert.ok(refused, bad);
  }
});

test("a build log written by one server is read whole, from any offset, by another", async () => {
  for (const [name, open] of stores) {
    const a = new BuildLogs(open());
    const b = new BuildLogs(open());
    await a.of(7).append("first line\n");
    assert.is((await b.of(7).readFrom(0)).toString(), "first line\n", name);
    await b.of(7).append("second line\n");
    // `a` knew one piece; it finds the one `b` added and appends after it.
    await a.of(7).append("third\n");
    const all = "first line\nsecond line\nthird\n";
    assert.is((await a.of(7).readFrom(0)).toString(), all, name);
    assert.is((await b.of(7).readFrom(6)).toString(), all.slice(6), name);
    assert.is((await b.of(7).readFrom(all.length)).length, 0, name);
    assert.equal(await a.of(7).stat(), { size: all.length, pieces: 3 }, name);
    assert.is(await text(b.of(7).stream()), all, name);
    assert.equal(await b.of(8).stat(), { size: 0, pieces: 0 }, name);
  }
});

test("build logs from before the object store are moved into it once", async () => {
  const data = await mkdtemp(join(tmpdir(), "flox-legacy-logs-"));
  try {
    await writeFile(join(data, "server.log"), "the server's own\n");
    for (const [name, open] of stores) {
      await writeFile(join(data, "12.log"), "an old log\n");
      const logs = new BuildLogs(open());
      assert.is(await moveLegacyLogs(data, logs), 1, name);
      assert.is((await new BuildLogs(open()).of(12).readFrom(0)).toString(), "an old log\n", name);
      assert.not.ok(existsSync(join(data, "12.log")), name);
      assert.ok(existsSync(join(data, "server.log")), name);
      await logs.of(12).append("more\n");
      assert.is((await logs.of(12).readFrom(0)).toString(), "an old log\nmore\n", name);
    }
  } finally {
    await rm(data, { recursive: true, force: true });
  }
});

test("a channel tarball is made once, stored, and found again by another server", async () => {
  const work = await mkdtemp(join(tmpdir(), "flox-channel-work-"));
  try {
    for (const [name, open] of stores) {
      let made = 0;
      const expression = () => {
        made++;
        return channelExpression("test channel", []);
      };
      const first = await channelTarball(open(), work, 41, "xz", "acme-1", expression);
      assert.match(first.etag, /^"[A-Za-z0-9_-]{43}"$/, name);
      const again = await channelTarball(open(), work, 41, "bz2", "acme-1", expression);
      const same = await channelTarball(open(), work, 41, "xz", "acme-1", expression);
      assert.is(made, 1, `${name}: both kinds made in one go, then only read`);
      assert.is(same.etag, first.etag, name);
      assert.is.not(again.etag, first.etag, name);
      const bytes = await open().get(first.key);
      const chunks: Buffer[] = [];
      for await (const c of bytes?.body ?? Readable.from([])) chunks.push(c as Buffer);
      const digest = createHash("sha256").update(Buffer.concat(chunks)).digest("base64url");
      assert.is(`"${digest}"`, first.etag, `${name}: the ETag is the sha256 of the stored bytes`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test("--nar-store URLs: what is accepted, and what is refused with a reason", () => {
  assert.equal(parseS3Url("s3://my-bucket/a/b?endpoint=http://127.0.0.1:7480&region=eu-1"), {
    bucket: "my-bucket",
    prefix: "a/b/",
    endpoint: "http://127.0.0.1:7480",
    region: "eu-1",
    pathStyle: true,
  });
  assert.is(parseS3Url("s3://aws-bucket").pathStyle, false);
  assert.is(parseS3Url("s3://aws-bucket").prefix, "");
  for (const [url, why] of [
    ["s3://B/x", /is not a bucket name/],
    ["s3://bucket/x?endpoint=127.0.0.1:80", /is not http\(s\):\/\/HOST\[:PORT\]/],
    ["s3://bucket/x?secret=abc", /unknown setting "secret"/],
    ["s3://bucket/x?path-style=yes", /path-style is true or false/],
    ["gs://bucket", /neither file: nor s3:\/\//],
    ["file:", /names no directory/],
  ] as const) {
    assert.throws(() => openObjectStore(url, "/tmp"), why, url);
  }
});

test.run();
