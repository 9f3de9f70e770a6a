import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ErrorBody } from "../lib/api/errors.js";
import { MembersResponse, OrgResponse, OrgsResponse } from "../lib/api/orgs.js";
import { PushesResponse, PushResponse } from "../lib/api/pushes.js";
import { HealthResponse } from "../lib/api/server.js";
import { CreateTokenResponse, TokensResponse, WhoamiResponse } from "../lib/api/tokens.js";
import { createTestApp, type TestApp } from "../testing/app.js";
import { repoDir } from "./paths.js";

let t: TestApp;
test.before.each(async () => {
  t = await createTestApp();
});
test.after.each(() => t.cleanup());

const sha = (c: string) => c.repeat(40);

function assertError(res: { status: number; body: unknown }, status: number, code?: string) {
  assert.is(res.status, status, JSON.stringify(res.body));
  const body = ErrorBody.parse(res.body);
  if (code) assert.is(body.error.code, code);
  assert.ok(body.error.message.length > 10);
}

async function orgToken(org: string, role: string, token?: string) {
  const res = await t.api("POST", "/api/v1/tokens", { scope: "org", org, role }, token);
  assert.is(res.status, 201, JSON.stringify(res.body));
  return CreateTokenResponse.parse(res.body).secret;
}

test("health needs no token; whoami describes the token", async () => {
  const health = await t.api("GET", "/api/v1/health", undefined, null);
  assert.is(health.status, 200);
  assert.is(HealthResponse.parse(health.body).ok, true);
  const who = WhoamiResponse.parse((await t.api("GET", "/api/v1/whoami")).body);
  assert.is(who.token.scope, "admin");
  assert.is(who.token.prefix, t.adminToken.slice(0, 10));
});

test("unknown endpoints, malformed JSON and bad input answer with JSON errors", async () => {
  assertError(await t.api("GET", "/api/v1/nope"), 404, "not_found");
  assertError(await t.api("GET", "/nothing/here", undefined, null), 404, "not_found");
  assertError(await t.api("POST", "/api/v1/orgs", "{not json"), 400, "invalid_json");
  assertError(await t.api("POST", "/api/v1/orgs"), 400, "invalid_json");
  assertError(await t.api("POST", "/api/v1/orgs", { name: "Acme" }), 400, "invalid_input");
  assertError(await t.api("POST", "/api/v1/orgs", { name: "acme", extra: 1 }), 400, "invalid_input");
  assertError(await t.api("POST", "/api/v1/orgs", ["acme"]), 400, "invalid_input");
  assertError(await t.api("GET", "/api/v1/orgs/-bad-"), 400, "invalid_input");
  assertError(await t.api("POST", "/api/v1/tokens", { scope: "org", org: "acme" }), 400, "invalid_input");
  assertError(await t.api("POST", "/api/v1/tokens", { scope: "admin", role: "owner" }), 400, "invalid_input");
  assertError(await t.api("DELETE", "/api/v1/tokens/abc"), 400, "invalid_input");
  const bad = await t.api("POST", "/api/v1/users", { name: "UPPER" });
  assert.match(bad.body.error.message, /name/);
});

test("no token, unknown token and revoked token are refused with 401", async () => {
  assertError(await t.api("GET", "/api/v1/orgs", undefined, null), 401);
  assertError(await t.api("GET", "/api/v1/orgs", undefined, "flox_nope"), 401, "unknown_token");
  await t.api("POST", "/api/v1/orgs", { name: "acme" });
  const secret = await orgToken("acme", "reader");
  assert.is((await t.api("GET", "/api/v1/orgs/acme", undefined, secret)).status, 200);
  const id = WhoamiResponse.parse((await t.api("GET", "/api/v1/whoami", undefined, secret)).body).token.id;
  assert.is((await t.api("DELETE", `/api/v1/tokens/${id}`)).status, 204);
  assertError(await t.api("GET", "/api/v1/orgs/acme", undefined, secret), 401, "revoked_token");
});

test("creating an org makes its bare repo with hooks and settings", async () => {
  const res = await t.api("POST", "/api/v1/orgs", { name: "acme", displayName: "Acme Corp" });
  assert.is(res.status, 201);
  const { org } = OrgResponse.parse(res.body);
  assert.is(org.displayName, "Acme Corp");
  assert.is(org.repoUrl, "http://flox.test/acme/nixexprs.git");
  const repo = repoDir(t.paths.repos, "acme");
  assert.ok(existsSync(`${repo}/HEAD`));
  assert.ok(existsSync(`${repo}/hooks/pre-receive`));
  assert.ok(existsSync(`${repo}/hooks/post-receive`));
  assertError(await t.api("POST", "/api/v1/orgs", { name: "acme" }), 409, "conflict");
  assertError(await t.api("GET", "/api/v1/orgs/nope"), 404, "not_found");
});

test("only admins create orgs and users", async () => {
  await t.api("POST", "/api/v1/orgs", { name: "acme" });
  const owner = await orgToken("acme", "owner");
  assertError(await t.api("POST", "/api/v1/orgs", { name: "other" }, owner), 403, "forbidden");
  assertError(await t.api("POST", "/api/v1/users", { name: "alice" }, owner), 403);
  assertError(await t.api("GET", "/api/v1/users", undefined, owner), 403);
});

test("an owner makes tokens for its own org only; members and readers make none", async () => {
  await t.api("POST", "/api/v1/orgs", { name: "acme" });
  await t.api("POST", "/api/v1/orgs", { name: "other" });
  const owner = await orgToken("acme", "owner");
  const reader = await orgToken("acme", "reader", owner);
  const member = await orgToken("acme", "member", owner);
  // No role in "other": the same 404 as for an org that does not exist.
  assertError(
    await t.api("POST", "/api/v1/tokens", { scope: "org", org: "other", role: "reader" }, owner),
    404,
  );
  assertError(await t.api("POST", "/api/v1/tokens", { scope: "admin" }, owner), 403);
  assertError(
    await t.api("POST", "/api/v1/tokens", { scope: "org", org: "acme", role: "reader" }, member),
    403,
  );
  assertError(
    await t.api("POST", "/api/v1/tokens", { scope: "org", org: "acme", role: "reader" }, reader),
    403,
  );
  assertError(await t.api("GET", "/api/v1/tokens", undefined, member), 403);

  await orgToken("other", "owner");
  const listed = TokensResponse.parse((await t.api("GET", "/api/v1/tokens", undefined, owner)).body).tokens;
  assert.equal(listed.map((x) => x.org).sort(), ["acme", "acme", "acme"]);
  const all = TokensResponse.parse((await t.api("GET", "/api/v1/tokens")).body).tokens;
  assert.is(all.length, 5); // admin + 4 org tokens

  const otherId = all.find((x) => x.org === "other")?.id;
  assertError(await t.api("DELETE", `/api/v1/tokens/${otherId}`, undefined, owner), 404);
  assertError(await t.api("DELETE", "/api/v1/tokens/9999"), 404);
  const readerId = listed.find((x) => x.role === "reader")?.id;
  assert.is((await t.api("DELETE", `/api/v1/tokens/${readerId}`, undefined, owner)).status, 204);
});

test("tokens are stored as sha256 only; the secret is shown once", async () => {
  await t.api("POST", "/api/v1/orgs", { name: "acme" });
  const res = await t.api("POST", "/api/v1/tokens", {
    scope: "org",
    org: "acme",
    role: "member",
    name: "ci",
  });
  const { token, secret } = CreateTokenResponse.parse(res.body);
  assert.match(secret, /^flox_[A-Za-z0-9_-]{43}$/);
  assert.is(token.prefix, secret.slice(0, 10));
  assert.is(token.name, "ci");
  const listed = JSON.stringify((await t.api("GET", "/api/v1/tokens")).body);
  assert.not.ok(listed.includes(secret));

  const raw = new Database(t.paths.db, { readonly: true });
  const dump = JSON.stringify(raw.prepare("select * from tokens").all());
  raw.close();
  assert.not.ok(dump.includes(secret), "the secret is in the database");
  assert.not.ok(dump.includes(t.adminToken), "the admin secret is in the database");
  const { createHash } = await import("node:crypto");
  assert.ok(dump.includes(createHash("sha256").update(secret).digest("hex")));
});

test("memberships give user tokens their role", async () => {
  await t.api("POST", "/api/v1/orgs", { name: "acme" });
  await t.api("POST", "/api/v1/orgs", { name: "hidden" });
  assert.is((await t.api("POST", "/api/v1/users", { name: "alice" })).status, 201);
  const alice = CreateTokenResponse.parse(
    (await t.api("POST", "/api/v1/tokens", { scope: "user", user: "alice" })).body,
  ).secret;
  assertError(await t.api("GET", "/api/v1/orgs/acme", undefined, alice), 404, "not_found");
  assert.equal(OrgsResponse.parse((await t.api("GET", "/api/v1/orgs", undefined, alice)).body).orgs, []);

  const put = await t.api("PUT", "/api/v1/orgs/acme/members/alice", { role: "owner" });
  assert.equal(put.body, { member: { user: "alice", org: "acme", role: "owner" } });
  const orgs = OrgsResponse.parse((await t.api("GET", "/api/v1/orgs", undefined, alice)).body).orgs;
  assert.equal(
    orgs.map((o) => o.name),
    ["acme"],
  );
  // As owner, alice may manage acme's members and tokens.
  await t.api("POST", "/api/v1/users", { name: "bob" });
  assert.is((await t.api("PUT", "/api/v1/orgs/acme/members/bob", { role: "reader" }, alice)).status, 200);
  assertError(await t.api("PUT", "/api/v1/orgs/hidden/members/bob", { role: "reader" }, alice), 404);
  await orgToken("acme", "reader", alice);
  const members = MembersResponse.parse(
    (await t.api("GET", "/api/v1/orgs/acme/members", undefined, alice)).body,
  );
  assert.equal(
    members.members.map((m) => `${m.user}:${m.role}`),
    ["alice:owner", "bob:reader"],
  );
  assertError(await t.api("PUT", "/api/v1/orgs/acme/members/nobody", { role: "reader" }), 404);
  assertError(await t.api("PUT", "/api/v1/orgs/acme/members/bob", { role: "king" }), 400);
  assert.is((await t.api("DELETE", "/api/v1/orgs/acme/members/bob", undefined, alice)).status, 204);
  assertError(await t.api("DELETE", "/api/v1/orgs/acme/members/bob", undefined, alice), 404);
});

test("builder and machine tokens have no org rights", async () => {
  await t.api("POST", "/api/v1/orgs", { name: "acme" });
  const builder = CreateTokenResponse.parse(
    (await t.api("POST", "/api/v1/tokens", { scope: "builder" })).body,
  ).secret;
  assertError(await t.api("GET", "/api/v1/orgs/acme", undefined, builder), 404, "not_found");
  assert.equal(OrgsResponse.parse((await t.api("GET", "/api/v1/orgs", undefined, builder)).body).orgs, []);
});

test("internal pushes need the hook secret; readers list them newest first", async () => {
  await t.api("POST", "/api/v1/orgs", { name: "acme" });
  const body = {
    org: "acme",
    ref: "refs/heads/main",
    oldSha: sha("0"),
    newSha: sha("a"),
    pushOptions: ["wait"],
  };
  assertError(await t.api("POST", "/api/v1/internal/pushes", body), 401);
  assertError(await t.api("POST", "/api/v1/internal/pushes", body, null), 401);
  const first = await t.api("POST", "/api/v1/internal/pushes", body, t.hookSecret);
  assert.is(first.status, 201, JSON.stringify(first.body));
  assert.equal(PushResponse.parse(first.body).push.pushOptions, ["wait"]);
  assert.is(first.body.push.source, "hook");
  await t.api(
    "POST",
    "/api/v1/internal/pushes",
    { ...body, oldSha: sha("a"), newSha: sha("b") },
    t.hookSecret,
  );
  assertError(
    await t.api("POST", "/api/v1/internal/pushes", { ...body, newSha: "xyz" }, t.hookSecret),
    400,
    "invalid_input",
  );
  assertError(await t.api("POST", "/api/v1/internal/pushes", { ...body, org: "nope" }, t.hookSecret), 404);

  const reader = await orgToken("acme", "reader");
  const list = PushesResponse.parse((await t.api("GET", "/api/v1/orgs/acme/pushes", undefined, reader)).body);
  assert.equal(
    list.pushes.map((p) => p.newSha),
    [sha("b"), sha("a")],
  );
});

test("a token with no role in a private org gets the very answer an org that does not exist gets", async () => {
  await t.api("POST", "/api/v1/orgs", { name: "acme" });
  await t.api("POST", "/api/v1/orgs", { name: "third" });
  const stranger = await orgToken("third", "owner");
  const routes: [string, string, unknown?][] = [
    ["GET", "/api/v1/orgs/NAME"],
    ["GET", "/api/v1/orgs/NAME/jobsets"],
    ["GET", "/api/v1/orgs/NAME/members"],
    ["GET", "/api/v1/orgs/NAME/pushes"],
    ["GET", "/api/v1/channels/NAME"],
    ["GET", "/api/v1/profiles?org=NAME"],
    ["PATCH", "/api/v1/orgs/NAME", { public: true }],
    ["PUT", "/api/v1/orgs/NAME/members/x", { role: "reader" }],
    ["POST", "/api/v1/tokens", { scope: "org", org: "NAME", role: "reader" }],
  ];
  const fill = (v: unknown, name: string) => JSON.parse(JSON.stringify(v ?? null).replaceAll("NAME", name));
  for (const [method, path, body] of routes) {
    const real = await t.api(method, path.replace("NAME", "acme"), fill(body, "acme") ?? undefined, stranger);
    const ghost = await t.api(
      method,
      path.replace("NAME", "ghost"),
      fill(body, "ghost") ?? undefined,
      stranger,
    );
    assert.is(real.status, 404, `${method} ${path} of an existing org: ${JSON.stringify(real.body)}`);
    assert.is(ghost.status, real.status, `${method} ${path}`);
    assert.equal(
      JSON.parse(JSON.stringify(real.body).replaceAll("acme", "ghost")),
      ghost.body,
      `${method} ${path}: the same body but for the name`,
    );
  }
  // Someone with a role still learns why they may not (the org's existence is no secret to them).
  const reader = await orgToken("acme", "reader");
  assertError(await t.api("PUT", "/api/v1/orgs/acme/members/x", { role: "reader" }, reader), 403);
});

test("orgs are private by default; an owner makes one public, and then anyone reads it without a token", async () => {
  const created = OrgResponse.parse((await t.api("POST", "/api/v1/orgs", { name: "acme" })).body).org;
  assert.is(created.public, false);
  const oss = OrgResponse.parse(
    (await t.api("POST", "/api/v1/orgs", { name: "oss", public: true })).body,
  ).org;
  assert.is(oss.public, true);
  const anon = (method: string, path: string) => t.api(method, path, undefined, null);

  // Private: anonymous readers are asked for a token, exactly as for an org that does not exist.
  const hidden = await anon("GET", "/api/v1/orgs/acme");
  const none = await anon("GET", "/api/v1/orgs/nope");
  assert.is(hidden.status, 401);
  assert.equal(hidden, none);
  assert.equal(
    await anon("GET", "/api/v1/orgs/acme/jobsets"),
    await anon("GET", "/api/v1/orgs/nope/jobsets"),
  );
  assert.is((await anon("GET", "/api/v1/orgs/acme/jobsets")).status, 401);
  // Public: its org, jobsets and channels are readable; its members, pushes and tokens are not.
  assert.is((await anon("GET", "/api/v1/orgs/oss")).status, 200);
  assert.is((await anon("GET", "/api/v1/orgs/oss/jobsets")).status, 200);
  assert.is((await anon("GET", "/api/v1/orgs/oss/members")).status, 401);
  assert.is((await anon("GET", "/api/v1/orgs/oss/pushes")).status, 401);
  assert.is((await anon("GET", "/api/v1/orgs")).status, 401, "listing orgs still needs a token");

  // Changing it: owners and admins only, never anonymously, and a no-role token cannot tell the org exists.
  const owner = await orgToken("acme", "owner");
  const member = await orgToken("acme", "member");
  const stranger = await orgToken("oss", "owner");
  const seen = OrgsResponse.parse((await t.api("GET", "/api/v1/orgs", undefined, member)).body).orgs;
  assert.equal(
    seen.map((o) => o.name),
    ["acme", "oss"],
    "a token lists its own orgs and the public ones",
  );
  assertError(await t.api("PATCH", "/api/v1/orgs/acme", { public: true }, member), 403, "forbidden");
  assertError(await t.api("PATCH", "/api/v1/orgs/acme", { public: true }, stranger), 404, "not_found");
  assert.is((await anon("PATCH", "/api/v1/orgs/acme")).status, 401);
  assertError(await t.api("PATCH", "/api/v1/orgs/acme", { public: "yes" }, owner), 400);
  const made = await t.api("PATCH", "/api/v1/orgs/acme", { public: true }, owner);
  assert.is(made.status, 200, JSON.stringify(made.body));
  assert.is(OrgResponse.parse(made.body).org.public, true);
  assert.is((await anon("GET", "/api/v1/orgs/acme")).status, 200);
  assert.is((await t.api("PATCH", "/api/v1/orgs/acme", { public: false })).status, 200, "admin");
  assert.is((await anon("GET", "/api/v1/orgs/acme")).status, 401);
});

test.run();
