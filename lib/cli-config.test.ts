import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  ConfigError,
  configPath,
  normalizeServerUrl,
  readSavedLogin,
  removeSavedLogin,
  resolveConnection,
  saveLogin,
} from "./cli-config.js";

let dir = "";
let env: Record<string, string | undefined> = {};

test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), "flox-cli-config-"));
  env = { XDG_CONFIG_HOME: dir, HOME: join(dir, "home") };
});
test.after.each(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("the file lives under XDG_CONFIG_HOME, else ~/.config; a relative XDG_CONFIG_HOME is ignored", () => {
  assert.is(configPath({ XDG_CONFIG_HOME: "/x", HOME: "/h" }), "/x/flox/config.json");
  assert.is(configPath({ HOME: "/h" }), "/h/.config/flox/config.json");
  assert.is(configPath({ XDG_CONFIG_HOME: "rel", HOME: "/h" }), "/h/.config/flox/config.json");
});

test("saveLogin writes mode 0600 atomically and readSavedLogin reads it back", async () => {
  const path = await saveLogin({ server: "http://a:1", token: "flox_t" }, env);
  assert.is(path, join(dir, "flox", "config.json"));
  assert.is((await stat(path)).mode & 0o777, 0o600);
  assert.equal(await readSavedLogin(env), { server: "http://a:1", token: "flox_t" });
  await saveLogin({ server: "http://b:2", token: "flox_u" }, env);
  assert.equal(await readSavedLogin(env), { server: "http://b:2", token: "flox_u" });
  assert.equal(await readdir(join(dir, "flox")), ["config.json"], "no temporary files left behind");
});

test("no file means no login; a damaged one is an error naming the file", async () => {
  assert.is(await readSavedLogin(env), undefined);
  await saveLogin({ server: "http://a:1", token: "t" }, env);
  await writeFile(configPath(env), "{not json");
  try {
    await readSavedLogin(env);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.match((err as Error).message, configPath(env));
  }
});

test("removeSavedLogin says whether there was a login", async () => {
  assert.is(await removeSavedLogin(env), false);
  await saveLogin({ server: "http://a:1", token: "t" }, env);
  assert.is(await removeSavedLogin(env), true);
  assert.is(await readSavedLogin(env), undefined);
});

test("server URLs are normalised and checked", () => {
  assert.is(normalizeServerUrl("127.0.0.1:8080"), "http://127.0.0.1:8080");
  assert.is(normalizeServerUrl("https://flox.example/"), "https://flox.example");
  assert.is(normalizeServerUrl("http://h/prefix//"), "http://h/prefix");
  assert.throws(() => normalizeServerUrl("ftp://h"), /only http/);
  assert.throws(() => normalizeServerUrl("http://u:secret@h"), /not in the server URL/);
});

test("flags win over the environment, which wins over the saved login", async () => {
  await saveLogin({ server: "http://saved:1", token: "saved-token" }, env);
  assert.equal(await resolveConnection({}, env), {
    server: "http://saved:1",
    token: "saved-token",
    serverFrom: "config",
    tokenFrom: "config",
  });
  const withEnv = { ...env, FLOX_SERVER: "http://env:2", FLOX_TOKEN: "env-token" };
  assert.equal(await resolveConnection({}, withEnv), {
    server: "http://env:2",
    token: "env-token",
    serverFrom: "env",
    tokenFrom: "env",
  });
  assert.equal(await resolveConnection({ server: "http://flag:3", token: "flag-token" }, withEnv), {
    server: "http://flag:3",
    token: "flag-token",
    serverFrom: "flag",
    tokenFrom: "flag",
  });
  const tokenOnly = await resolveConnection({}, { ...env, FLOX_TOKEN: "env-token" });
  assert.equal([tokenOnly.server, tokenOnly.token], ["http://saved:1", "env-token"]);
});

test("the saved token is never sent to a different server", async () => {
  await saveLogin({ server: "http://saved:1", token: "saved-token" }, env);
  const other = await resolveConnection({ server: "http://elsewhere:1" }, env);
  assert.is(other.token, undefined);
  const same = await resolveConnection({ server: "saved:1" }, env);
  assert.is(same.token, "saved-token");
});

test("no server anywhere is a clear error", async () => {
  try {
    await resolveConnection({}, env);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.is(
      (err as Error).message,
      "no server configured: pass --server URL, set FLOX_SERVER, or run `flox login URL`",
    );
  }
});

test("the saved file is plain JSON a person can read", async () => {
  await saveLogin({ server: "http://a:1", token: "t" }, env);
  assert.equal(JSON.parse(await readFile(configPath(env), "utf8")), { server: "http://a:1", token: "t" });
});

test.run();
