import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startTestServer } from "../testing/test-server.js";
import { basic, prepareUpload } from "./testing.js";

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

test.run();
