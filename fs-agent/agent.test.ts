// End to end: a real `flox server`, store paths built by real Nix and uploaded with `nix copy --to`, and
// `flox agent` mounting them with FUSE in a temp dir. Needs root and /dev/fuse. Every mount is undone in
// teardown, even when a test fails.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseNarInfo, serializeNarInfo } from "../lib/narinfo.js";
import { generateKeyPair, signNarInfo } from "../lib/signature.js";
import {
  type AgentProcess,
  copyToServer,
  forceUnmount,
  isMounted,
  type ServerProcess,
  sh,
  startAgent,
  startServer,
} from "../testing/agent.js";
import { createNixTestStore, type NixTestStore } from "../testing/nix-store.js";

const root = mkdtempSync(join(tmpdir(), "flox-agent-test-"));
const mnt = join(root, "mnt");
const cacheDir = join(root, "cache");
const serverDir = join(root, "server");
mkdirSync(serverDir);
let server: ServerProcess;
let src: NixTestStore;
let agent: AgentProcess | undefined;
let busybox: string;
let dep: string;
let hello: string;
let other: string;
let single: string;
let later: string;
let tree: string;
let big: string;

const base = (p: string) => p.slice("/nix/store/".length);
const at = (p: string, rest = "") => join(mnt, base(p), rest);

// Last resort: never leave a mount behind, whatever happened.
process.on("exit", () => {
  try {
    execFileSync("fusermount", ["-uz", mnt], { stdio: "ignore" });
  } catch {}
});

test.before(async () => {
  server = await startServer(serverDir);
  src = await createNixTestStore();
  const depExpr = `run "flox-agent-dep" "mkdir -p $out/share; echo dependency > $out/share/dep.txt"`;
  dep = await src.buildOne(depExpr);
  hello = await src.buildOne(
    `let d = ${depExpr}; in run "flox-agent-hello" ''
      mkdir -p $out/bin
      printf '#!%s/bin/sh\\necho hello from the agent\\n%s/bin/busybox cat %s/share/dep.txt\\n' \${busybox} \${busybox} \${d} > $out/bin/hello
      chmod +x $out/bin/hello
      ln -s hello $out/bin/hi
    ''`,
  );
  busybox = (await src.run("nix-store", ["-q", "--references", hello]))
    .split("\n")
    .find((p) => p.endsWith("-busybox")) as string;
  other = await src.buildOne(`run "flox-agent-other" "mkdir -p $out; seq 1 5000 > $out/numbers"`);
  single = await src.buildOne(`run "flox-agent-single" "echo single file > $out"`);
  later = await src.buildOne(`run "flox-agent-later" "mkdir -p $out; echo later > $out/f"`);
  tree = await src.buildOne(`run "flox-agent-tree" ''
    mkdir -p $out/bin $out/share/doc/deep $out/lib
    echo '#!/bin/sh' > $out/bin/tool; chmod +x $out/bin/tool
    ln -s tool $out/bin/alias; ln -s /etc/hostname $out/lib/abs
    seq 1 300 > $out/share/doc/numbers; : > $out/share/empty; echo deep > $out/share/doc/deep/f
  ''`);
  // Two ~2.6 MiB files and a small one: big enough to be fetched file by file (--file-fetch-from 1M).
  big = await src.buildOne(`run "flox-agent-big" ''
    mkdir -p $out/data; seq 1 400000 > $out/data/a; seq 400001 800000 > $out/data/b; echo small > $out/small
  ''`);
  await copyToServer(src, server, [hello], "br");
  await copyToServer(src, server, [other], "gzip");
  await copyToServer(src, server, [single, later, tree, big], "none");
  agent = await startAgent(server.url, { mount: mnt, cacheDir }, [
    "--negative-timeout",
    "60",
    "--file-fetch-from",
    "1M",
  ]);
});

test.after(async () => {
  await agent?.stop();
  await forceUnmount(mnt);
  await server?.stop();
  await src?.cleanup();
  rmSync(root, { recursive: true, force: true });
});

test("the busybox of the closure is a reference of hello", () => {
  assert.ok(busybox, "hello should reference busybox");
});

test("a program runs from the mount in a private mount namespace; only its closure is fetched", async () => {
  const run = await sh(
    `unshare --mount --propagation private sh -c 'mount --bind "$0" /nix/store && exec ${hello}/bin/hi' ${mnt}`,
  );
  assert.is(run.exitCode, 0, run.stderr);
  assert.is(run.stdout, "hello from the agent\ndependency");
  // Listing the mount root shows what is cached: the touched closure, not the Storehouse.
  const listed = readdirSync(mnt).sort();
  assert.equal(listed, [hello, dep, busybox].map(base).sort());
  assert.equal(readdirSync(join(cacheDir, "store")).sort(), listed);
  const st = await agent?.status();
  assert.is(st.cache.paths, 3);
});

test("flox agent exec runs a command with the mount as /nix/store", async () => {
  const run = await sh(`node cli/bin/flox agent exec --mount ${mnt} -- ${hello}/bin/hello`);
  assert.is(run.exitCode, 0, run.stderr);
  assert.is(run.stdout, "hello from the agent\ndependency");
});

test("a single-file store path (compression none) and a gzip one are served", async () => {
  assert.is(readFileSync(join(mnt, base(single)), "utf8"), "single file\n");
  const numbers = readFileSync(at(other, "numbers"), "utf8");
  assert.is(numbers.split("\n").length, 5001);
  const r = await sh(`test -w ${at(other, "numbers")} || echo read-only; touch ${at(other, "x")} 2>&1`);
  assert.match(r.stdout, /read-only/);
  assert.match(r.stdout, /Read-only file system/);
});

test("metadata comes from the signed listing: find, stat and readlink fetch no byte of the path", async () => {
  const before = await agent?.status();
  // Sizes of directories depend on the filesystem (4096 on ext4, other on tmpfs): compared for the rest.
  const list = (dir: string) =>
    sh(`cd ${dir} && find . ! -type d -printf '%y %m %s %n %P -> %l\\n' -o -printf '%y %m %n %P\\n' | sort`);
  const mounted = await list(join(mnt, base(tree)));
  const real = await list(src.realPath(tree));
  assert.is(mounted.exitCode, 0, mounted.stderr);
  assert.is(mounted.stdout, real.stdout);
  assert.match(mounted.stdout, /l 777 4 1 bin\/alias -> tool/);
  assert.is((await sh(`readlink ${at(tree, "lib/abs")}`)).stdout, "/etc/hostname");
  const mid = await agent?.status();
  assert.is(mid.remote.narRequests, before.remote.narRequests, "no NAR was fetched");
  assert.is(mid.remote.listingRequests - before.remote.listingRequests, 1);
  assert.ok(mid.ops.listed > before.ops.listed);
  assert.not.ok(readdirSync(mnt).includes(base(tree)), "nothing of it is cached yet");
  // A missing name inside it is missing for good: the kernel (or the agent's own set) answers repeats.
  assert.match((await sh(`stat ${at(tree, "bin/nope")}`)).stderr, /No such file/);
  // Opening a file brings the (small) path whole, in one request.
  assert.is(readFileSync(at(tree, "share/doc/deep/f"), "utf8"), "deep\n");
  const after = await agent?.status();
  assert.is(after.remote.narRequests - mid.remote.narRequests, 1);
  assert.ok(readdirSync(mnt).includes(base(tree)));
});

test("a big uncompressed path: opening one file fetches that file only, by Range, checked by its hash", async () => {
  const before = await agent?.status();
  const a = readFileSync(at(big, "data/a"));
  assert.ok(a.equals(readFileSync(join(src.realPath(big), "data/a"))));
  const mid = await agent?.status();
  assert.is(mid.remote.narRequests, before.remote.narRequests, "not the whole NAR");
  assert.is(mid.remote.rangeRequests - before.remote.rangeRequests, 1);
  const fetched = mid.remote.bytesFetched - before.remote.bytesFetched;
  assert.ok(
    fetched >= a.length && fetched < a.length + 64 * 1024,
    `${fetched} bytes for a ${a.length}-byte file`,
  );
  assert.is(mid.cache.files - before.cache.files, 1);
  assert.not.ok(readdirSync(mnt).includes(base(big)), "the path itself is not cached");
  // Read again: from the cached file, no request.
  readFileSync(at(big, "data/a"));
  const again = await agent?.status();
  assert.is(again.remote.rangeRequests, mid.remote.rangeRequests);

  // One bit flipped in data/b's bytes on the server: the file is refused, nothing of it is kept.
  const info = parseNarInfo(
    readFileSync(join(serverDir, "store", "narinfo", `${base(big).slice(0, 32)}.narinfo`), "utf8"),
  );
  const ls = JSON.parse(readFileSync(join(serverDir, "store", "ls", `${base(big).slice(0, 32)}.ls`), "utf8"));
  const b = ls.root.entries.data.entries.b as { narOffset: number; size: number };
  const narFile = join(serverDir, "store", info.url);
  const bytes = readFileSync(narFile);
  const at1 = b.narOffset + Math.floor(b.size / 2);
  bytes.writeUInt8(bytes.readUInt8(at1) ^ 0x01, at1);
  writeFileSync(narFile, bytes);
  const r = await sh(`cat ${at(big, "data/b")} > /dev/null`);
  assert.match(r.stderr, /Input\/output error/);
  const end = await agent?.status();
  assert.is(end.cache.refused - again.cache.refused, 1);
  assert.is(end.cache.files, again.cache.files);
});

test("a listing that is not the one the server signed is refused (EIO), never served", async () => {
  const forged = await src.buildOne(`run "flox-agent-forged-ls" "mkdir -p $out; echo x > $out/f"`);
  await copyToServer(src, server, [forged], "none");
  const file = join(serverDir, "store", "ls", `${base(forged).slice(0, 32)}.ls`);
  writeFileSync(file, readFileSync(file, "utf8").replace('"size":2', '"size":3'));
  const r = await sh(`stat ${at(forged, "f")}`);
  assert.match(r.stderr, /Input\/output error/);
});

test("negative lookups: a second stat of a missing name does not reach the agent", async () => {
  const missing = join(mnt, `${"0".repeat(32)}-not-there`);
  const before = await agent?.status();
  const first = await sh(`stat ${missing}`);
  assert.match(first.stderr, /No such file/);
  const mid = await agent?.status();
  assert.is(mid.remote.narinfoRequests - before.remote.narinfoRequests, 1);
  assert.is(mid.ops.getattr - before.ops.getattr, 1);
  await sh(`stat ${missing}; stat ${missing}`);
  const after = await agent?.status();
  assert.is(after.ops.getattr - mid.ops.getattr, 0, "the kernel answered the repeated misses");
  assert.is(after.remote.narinfoRequests, mid.remote.narinfoRequests);

  // Inside a store path: the same, for good.
  const inside = at(hello, "no-such-file");
  await sh(`stat ${inside}`);
  const s1 = await agent?.status();
  await sh(`stat ${inside}; stat ${inside}; python3 -c 'import os; os.path.exists("${inside}")'`);
  const s2 = await agent?.status();
  assert.is(s2.ops.getattr - s1.ops.getattr, 0);
});

test("a corrupted NAR from the server is refused and nothing is served", async () => {
  const bad = await src.buildOne(`run "flox-agent-corrupt" "mkdir -p $out; seq 1 3000 > $out/data"`);
  await copyToServer(src, server, [bad], "none");
  const info = parseNarInfo(
    readFileSync(join(serverDir, "store", "narinfo", `${base(bad).slice(0, 32)}.narinfo`), "utf8"),
  );
  const narFile = join(serverDir, "store", info.url);
  const bytes = readFileSync(narFile);
  bytes.writeUInt8((bytes.readUInt8(bytes.length - 200) ^ 0x01) & 0xff, bytes.length - 200); // one bit inside the file's contents: still a well-formed NAR
  writeFileSync(narFile, bytes);
  const r = await sh(`cat ${at(bad, "data")}`);
  assert.is.not(r.exitCode, 0);
  assert.match(r.stderr, /Input\/output error/);
  assert.not.ok(readdirSync(mnt).includes(base(bad)));
  assert.not.ok(readdirSync(join(cacheDir, "store")).includes(base(bad)));
  const st = await agent?.status();
  assert.ok(st.cache.refused >= 1);
});

test("a narinfo signed by another key is refused", async () => {
  const forged = await src.buildOne(`run "flox-agent-forged" "mkdir -p $out; echo forged > $out/f"`);
  await copyToServer(src, server, [forged], "none");
  const file = join(serverDir, "store", "narinfo", `${base(forged).slice(0, 32)}.narinfo`);
  const info = parseNarInfo(readFileSync(file, "utf8"));
  // The server's key name with a stranger's signature: a man in the middle's narinfo.
  const keyName = (info.sigs[0] as string).split(":")[0] as string;
  const stranger = generateKeyPair(keyName).secretKey;
  writeFileSync(file, serializeNarInfo(signNarInfo({ ...info, sigs: [] }, stranger)));
  const r = await sh(`cat ${at(forged, "f")}`);
  assert.match(r.stderr, /Input\/output error/);
  assert.not.ok(readdirSync(join(cacheDir, "store")).includes(base(forged)));
});

test("server away: cached paths work, an uncached one fails with EIO in bounded time, then comes back", async () => {
  const port = server.port;
  await server.stop();
  const cached = await sh(
    `${at(hello, "bin/hello").replace(mnt, mnt)} 2>&1; cat ${at(dep, "share/dep.txt")}`,
  );
  assert.match(cached.stdout, /dependency/);
  const t0 = Date.now();
  const r = await sh(`stat ${at(later, "f")}`);
  const took = Date.now() - t0;
  assert.match(r.stderr, /Input\/output error/);
  assert.ok(took <= 10_000, `EIO took ${took} ms`);
  // Back on the same port: the agent reconnects by itself and the miss was not remembered.
  server = await startServer(serverDir, port);
  let ok = "";
  for (let i = 0; i < 60 && !ok; i++) {
    await new Promise((res) => setTimeout(res, 500));
    ok = (await sh(`cat ${at(later, "f")}`)).stdout;
  }
  assert.is(ok, "later");
});

test("GC under quota pressure through the mount: a path with an open file stays until it is closed", async () => {
  await agent?.stop();
  const narSize = async (p: string) =>
    parseNarInfo(await (await fetch(`${server.url}/cache/${base(p).slice(0, 32)}.narinfo`)).text()).narSize;
  const small = Math.max(...(await Promise.all([single, later, dep].map(narSize))));
  const quota = (await narSize(other)) + small + 100;
  agent = await startAgent(server.url, { mount: mnt, cacheDir: join(root, "small-cache") }, [
    "--cache-size",
    String(quota),
  ]);
  const holder = sh(`exec 3< ${at(other, "numbers")}; echo open; sleep 4`);
  await new Promise((r) => setTimeout(r, 1000));
  // Reading a file brings its path in (a stat alone is answered from the listing).
  for (const f of [join(mnt, base(single)), at(later, "f"), at(dep, "share/dep.txt")]) {
    assert.ok((await sh(`cat ${f}`)).exitCode === 0);
    await new Promise((r) => setTimeout(r, 1100)); // distinct access times
  }
  let listed = readdirSync(mnt);
  assert.ok(listed.includes(base(other)), "the path with an open file stays");
  assert.ok(listed.includes(base(dep)));
  assert.not.ok(listed.includes(base(single)), "the least recently used path went");
  const st = await agent?.status();
  assert.ok(st.cache.usedBytes <= quota + small, `${st.cache.usedBytes} > ${quota} + ${small}`);
  assert.match((await holder).stdout, /open/);
  // Closed: now it may go, and an evicted path comes back when touched.
  assert.is(readFileSync(join(mnt, base(single)), "utf8"), "single file\n");
  listed = readdirSync(mnt);
  assert.not.ok(listed.includes(base(other)));
  assert.ok(listed.includes(base(single)));
  assert.is((await sh(`wc -l < ${at(other, "numbers")}`)).stdout.trim(), "5000");
});

test("SIGTERM unmounts and leaves no stale mount", async () => {
  assert.ok(await isMounted(mnt));
  const a = agent as AgentProcess;
  a.child.kill("SIGTERM");
  const code = await new Promise<number | null>((ok) => a.child.once("exit", ok));
  assert.is(code, 0, a.stderr());
  assert.not.ok(await isMounted(mnt), "the mount must be gone after SIGTERM");
  // A restarted agent serves its cache again (the index survived).
  agent = await startAgent(server.url, { mount: mnt, cacheDir });
  assert.ok(readdirSync(mnt).includes(base(hello)));
  assert.is(readFileSync(at(dep, "share/dep.txt"), "utf8"), "dependency\n");
});

test.run();
