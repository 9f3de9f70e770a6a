// A stock Nix 2.8 client against the Storehouse: `nix copy --to` uploads, a fresh store substitutes with
// require-sigs and only our key trusted. Every Nix runs in its own chroot store and cache dir.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { generateKeyPair } from "../../lib/signature.js";
import { createNixTestStore, type NixTestStore } from "../../testing/nix-store.js";
import { startTestServer, type TestServer } from "../../testing/server.js";

let s: TestServer;
let src: NixTestStore;
let builder: string;
let netrc: string;
let dep: string;
let top: string;

test.before(async () => {
  s = await startTestServer();
  src = await createNixTestStore();
  const b = await s.api("POST", "/api/v1/tokens", { scope: "builder" });
  assert.is(b.status, 201, JSON.stringify(b.body));
  builder = b.body.secret;
  netrc = join(src.dir, "netrc");
  writeFileSync(netrc, `machine 127.0.0.1 login x password ${builder}\n`);
  // An input-addressed output (so its narinfo needs a signature) with a dependency in its closure.
  const depExpr = `run "flox-dep" "mkdir -p $out/share; echo dependency > $out/share/dep.txt"`;
  dep = await src.buildOne(depExpr);
  top = await src.buildOne(
    `let d = ${depExpr}; in run "flox-top" "mkdir -p $out/bin; echo 'hello from top' > $out/hello.txt; echo \${d}/share/dep.txt > $out/dep-path; chmod +x $out/hello.txt"`,
  );
});
test.after(async () => {
  await s.stop();
  await src.cleanup();
});

function cacheUrl(params = ""): string {
  return `${s.url}/cache${params}`;
}

async function copyTo(paths: string[], compression: string, store = src): Promise<void> {
  await store.run("nix", [
    "copy",
    "--option",
    "netrc-file",
    netrc,
    "--to",
    cacheUrl(`?compression=${compression}`),
    ...paths,
  ]);
}

test("the fixture closure holds a dependency", async () => {
  const refs = (await src.run("nix-store", ["-q", "--references", top])).split("\n");
  assert.ok(refs.includes(dep), `${top} should reference ${dep}; has ${refs.join(", ")}`);
});

test("nix copy --to uploads a closure with netrc auth (compression=none)", async () => {
  await copyTo([top], "none");
  for (const p of [top, dep]) {
    const hash = p.slice("/nix/store/".length, "/nix/store/".length + 32);
    const res = await fetch(cacheUrl(`/${hash}.narinfo`));
    assert.is(res.status, 200, p);
    assert.match(await res.text(), /\nSig: flox-/);
  }
});

test("nix copy --to with compression=br", async () => {
  const other = await src.buildOne(`run "flox-br" "mkdir -p $out; seq 1 2000 > $out/numbers"`);
  await copyTo([other], "br");
  const hash = other.slice("/nix/store/".length, "/nix/store/".length + 32);
  const text = await (await fetch(cacheUrl(`/${hash}.narinfo`))).text();
  assert.match(text, /Compression: br\n/);
  assert.match(text, /URL: nar\/[0-9a-z]{52}\.nar\.br\n/);
});

test("nix copy --to without a token is refused", async () => {
  const lone = await src.buildOne(`run "flox-lone" "mkdir -p $out; echo lone > $out/f"`);
  let failed = false;
  try {
    await src.run("nix", ["copy", "--to", cacheUrl("?compression=none"), lone]);
  } catch (err) {
    failed = true;
    // Nix shows the response body: the user learns what to do.
    assert.match(String(err), /needs a token: .*netrc/);
  }
  assert.ok(failed, "nix copy without netrc should fail");
});

async function substitute(client: NixTestStore, trustedKey: string, path: string): Promise<void> {
  await client.substitute(cacheUrl(), trustedKey, [path]);
}

test("a fresh store substitutes with require-sigs and only our key; another key is refused", async () => {
  const key = (await (await fetch(cacheUrl("/public-key"))).text()).trim();
  const client = await createNixTestStore();
  try {
    const stranger = generateKeyPair("stranger-1").publicKey;
    let refused = false;
    try {
      // A separate cache dir: Nix remembers narinfos it has seen.
      await client.run(
        "nix-store",
        [
          "-r",
          top,
          "--option",
          "substituters",
          cacheUrl(),
          "--option",
          "require-sigs",
          "true",
          "--option",
          "trusted-public-keys",
          stranger,
        ],
        { env: { XDG_CACHE_HOME: join(client.dir, "other-cache") } },
      );
    } catch (err) {
      refused = true;
      assert.match(String(err), /not signed by any of the keys/);
    }
    assert.ok(refused, "substituting with an untrusted key must fail");

    await substitute(client, key, top);
    assert.is(readFileSync(client.realPath(`${top}/hello.txt`), "utf8"), "hello from top\n");
    assert.is(readFileSync(client.realPath(`${dep}/share/dep.txt`), "utf8"), "dependency\n");
    const verify = await client.run("nix-store", ["--verify-path", top]);
    assert.is(verify, "");
  } finally {
    await client.cleanup();
  }
});

test.run();
