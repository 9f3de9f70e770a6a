// The builder's own upload of its outputs (upload-outputs.ts) against a real `flox server`: a closure built by stock
// Nix in a chroot store goes up with what the Storehouse lacks, and a fresh stock Nix substitutes it back with
// require-sigs and only the server's key — so the NARs and narinfos are what Nix itself would have uploaded.
import { readFileSync, readlinkSync, statSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createNixTestStore, type NixTestStore } from "../../testing/nix-store.js";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { UploadError, uploadOutputs } from "./upload-outputs.js";

let s: TestServer;
let src: NixTestStore;
let token = "";
let dep = "";
let top = "";
let depExpr = "";
/** Bigger than what the upload keeps in memory, and incompressible: its NAR goes through a temp file. */
let big = "";

const hashOf = (p: string) => p.slice("/nix/store/".length, "/nix/store/".length + 32);
const narinfo = async (p: string) => fetch(`${s.url}/cache/${hashOf(p)}.narinfo`);

test.before(async () => {
  s = await startTestServer();
  src = await createNixTestStore();
  const b = await s.api("POST", "/api/v1/tokens", { scope: "builder" });
  assert.is(b.status, 201, JSON.stringify(b.body));
  token = b.body.secret;
  // Input-addressed outputs (their narinfos need the server's signature), one referring to the other, with a
  // directory, an executable and a symlink in the NAR.
  depExpr = `run "flox-up-dep" "mkdir -p $out/share; echo dependency > $out/share/dep.txt"`;
  dep = await src.buildOne(depExpr);
  top = await src.buildOne(
    `let d = ${depExpr}; in run "flox-up-top" "mkdir -p $out/bin; printf '#!/bin/sh\\necho hi\\n' > $out/bin/hi; chmod +x $out/bin/hi; ln -s \${d}/share/dep.txt $out/dep; seq 1 3000 > $out/numbers"`,
  );
  big = await src.buildOne(`run "flox-up-big" "head -c 9437184 /dev/urandom > $out"`);
});

test.after(async () => {
  await s?.stop();
  await src?.cleanup();
});

test("a refused token is an UploadError naming the HTTP status, and nothing is stored", async () => {
  const err = await uploadOutputs(
    { store: src.storeRoot, server: s.url, token: `flox_${"y".repeat(43)}` },
    [top],
    new AbortController().signal,
  ).catch((e: unknown) => e);
  assert.instance(err, UploadError);
  assert.match((err as Error).message, /HTTP 401/);
  assert.is((await narinfo(top)).status, 404);
});

test("a path the store does not hold is an UploadError saying so", async () => {
  const absent = `/nix/store/${"a".repeat(32)}-absent`;
  const err = await uploadOutputs(
    { store: src.storeRoot, server: s.url, token },
    [absent],
    new AbortController().signal,
  ).catch((e: unknown) => e);
  assert.instance(err, UploadError);
  assert.match((err as Error).message, `${absent} is not a valid path`);
});

test("the outputs and the closure the Storehouse lacks go up, signed, uncompressed, with their deriver", async () => {
  await uploadOutputs(
    { store: src.storeRoot, server: s.url, token },
    [top, big],
    new AbortController().signal,
  );
  for (const p of [top, dep, big]) {
    const res = await narinfo(p);
    assert.is(res.status, 200, p);
    const text = await res.text();
    assert.match(text, /\nSig: flox-/);
    assert.match(text, /\nCompression: none\n/);
    assert.match(text, /\nDeriver: [0-9a-z]{32}-flox-up-[a-z]+\.drv\n/);
  }
  assert.match(await (await narinfo(top)).text(), `References: ${dep.slice("/nix/store/".length)}`);
  // Again: everything is there, nothing is sent twice (an upload of an existing path would answer "exists").
  await uploadOutputs({ store: src.storeRoot, server: s.url, token }, [top], new AbortController().signal);
});

test("a fresh stock Nix substitutes the uploaded closure with require-sigs and only the server's key", async () => {
  const key = (await (await fetch(`${s.url}/cache/public-key`)).text()).trim();
  const client = await createNixTestStore();
  try {
    await client.substitute(`${s.url}/cache`, key, [top, big]);
    // Nix checked each NAR against its signed NarHash while substituting; the files are the built ones.
    await client.run("nix-store", ["--verify-path", top, dep, big]);
    assert.ok(
      readFileSync(client.realPath(big)).equals(readFileSync(src.realPath(big))),
      "the big output's bytes",
    );
    assert.is(
      readFileSync(`${client.realPath(top)}/numbers`, "utf8"),
      readFileSync(`${src.realPath(top)}/numbers`, "utf8"),
    );
    assert.ok(statSync(`${client.realPath(top)}/bin/hi`).mode & 0o100, "bin/hi stays executable");
    assert.is(readlinkSync(`${client.realPath(top)}/dep`), `${dep}/share/dep.txt`);
  } finally {
    await client.cleanup();
  }
});

test.run();
