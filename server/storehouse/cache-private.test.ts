import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commitAll, ensureCompiledHooks, push, workRepoFromFixture } from "../../testing/repos.js";
import { startTestServer } from "../../testing/server.js";
import { basic, prepareUpload } from "../../testing/storehouse-uploads.js";

test("--private-cache: reads need a token, the public key stays public, the key survives restarts", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "flox-private-cache-"));
  try {
    let s = await startTestServer({ dataDir, args: ["--private-cache"] });
    let key: string;
    try {
      const b = await s.api("POST", "/api/v1/tokens", { scope: "builder" });
      const builder: string = b.body.secret;
      const u = await prepareUpload("secret-sauce", { a: "private\n" });
      for (const [path, body] of [
        [u.info.url, u.file],
        [`${u.hash}.narinfo`, u.narinfoText],
      ] as const) {
        const res = await fetch(`${s.url}/cache/${path}`, {
          method: "PUT",
          body,
          headers: { authorization: basic(builder) },
        });
        assert.is(res.status, 201, await res.text());
      }
      const url = `${s.url}/cache/${u.hash}.narinfo`;
      const anon = await fetch(url);
      assert.is(anon.status, 401);
      assert.match(anon.headers.get("www-authenticate") ?? "", /Basic/);
      assert.is((await fetch(url, { headers: { authorization: basic("flox_wrong") } })).status, 401);
      assert.is((await fetch(`${s.url}/cache/nix-cache-info`)).status, 401);
      assert.is((await fetch(`${s.url}/cache/${u.info.url}`)).status, 401);
      const ok = await fetch(url, { headers: { authorization: basic(builder) } });
      assert.is(ok.status, 200);
      assert.match(ok.headers.get("cache-control") ?? "", /^private/);
      assert.is((await fetch(url, { headers: { authorization: `Bearer ${s.adminToken}` } })).status, 200);
      const pk = await fetch(`${s.url}/cache/public-key`);
      assert.is(pk.status, 200);
      key = (await pk.text()).trim();
    } finally {
      await s.stop();
    }
    s = await startTestServer({ dataDir });
    try {
      assert.is((await (await fetch(`${s.url}/cache/public-key`)).text()).trim(), key);
      assert.is((await fetch(`${s.url}/cache/nix-cache-info`)).status, 200, "public again without the flag");
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test("--private-cache: a valid token of another org still may not read a private org's channels", async () => {
  const s = await startTestServer({ args: ["--private-cache"] });
  try {
    for (const body of [{ name: "acme" }, { name: "other" }, { name: "oss", public: true }]) {
      assert.is((await s.api("POST", "/api/v1/orgs", body)).status, 201);
    }
    const token = async (org: string) =>
      (await s.api("POST", "/api/v1/tokens", { scope: "org", org, role: "reader" })).body.secret as string;
    const acme = await token("acme");
    const other = await token("other");
    const channel = async (org: string, secret?: string) => {
      const r = await fetch(
        `${s.url}/channels/${org}`,
        secret ? { headers: { authorization: basic(secret) } } : {},
      );
      return { status: r.status, text: await r.text() };
    };
    // A push makes acme's channel exist (unpublished: nothing is built here); acme's reader gets past the org's gate.
    await ensureCompiledHooks();
    const work = await workRepoFromFixture("dep-chain", s.dataDir);
    await commitAll(work, "chain");
    const pushed = await push(work, s.gitUrl("acme", s.adminToken), ["HEAD:refs/heads/main"]);
    assert.is(pushed.exitCode, 0, pushed.stderr);
    const mine = await channel("acme", acme);
    assert.is(mine.status, 404);
    assert.match(mine.text, /channel "acme" has no green evaluation yet/);
    const ghost = await channel("ghost", other);
    assert.equal(await channel("acme", other), { ...ghost, text: ghost.text.replace("ghost", "acme") });
    assert.is((await channel("acme")).status, 401);
    // A public org under --private-cache: any token, but still a token.
    assert.is((await channel("oss")).status, 401);
    assert.match((await channel("oss", other)).text, /there is no channel "oss"/);
  } finally {
    await s.stop();
  }
});

test.run();
