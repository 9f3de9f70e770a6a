// The client's own behaviour (headers, error mapping, shape checks) against a loopback stand-in that answers
// what each test scripts. The real server is exercised end to end in cli/cli.test.ts.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ApiClient } from "./client.js";
import { ApiError, ApiResponseError, ApiUnreachableError } from "./errors.js";

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

let server: Server;
let base = "";
let seen: Seen[] = [];
let answer: { status: number; body: string; type?: string } = { status: 200, body: "{}" };

test.before(async () => {
  server = createServer(async (req: IncomingMessage, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    seen.push({
      method: req.method ?? "",
      url: req.url ?? "",
      authorization: req.headers.authorization,
      body,
    });
    res.writeHead(answer.status, { "content-type": answer.type ?? "application/json" });
    res.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
test.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
test.before.each(() => {
  seen = [];
});

const org = {
  name: "acme",
  displayName: "Acme",
  public: false,
  machineBuilds: false,
  createdAt: "2025-01-01T00:00:00.000Z",
  repoUrl: "http://h/acme/nixexprs.git",
};

test("sends the token as Bearer and JSON bodies, and unwraps the answer", async () => {
  answer = { status: 201, body: JSON.stringify({ org }) };
  const client = new ApiClient({ server: `${base}/`, token: "flox_abc" });
  assert.equal(await client.createOrg({ name: "acme", displayName: "Acme" }), org);
  assert.equal(seen, [
    {
      method: "POST",
      url: "/api/v1/orgs",
      authorization: "Bearer flox_abc",
      body: '{"name":"acme","displayName":"Acme"}',
    },
  ]);
});

test("path segments are escaped", async () => {
  answer = { status: 204, body: "" };
  await new ApiClient({ server: base, token: "t" }).removeMember("a/b", "c?d");
  assert.is(seen[0]?.url, "/api/v1/orgs/a%2Fb/members/c%3Fd");
  assert.is(seen[0]?.method, "DELETE");
});

test("an error answer becomes an ApiError with the server's status, code and message", async () => {
  answer = {
    status: 409,
    body: JSON.stringify({ error: { code: "org_exists", message: 'org "acme" already exists' } }),
  };
  try {
    await new ApiClient({ server: base, token: "t" }).createOrg({ name: "acme" });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ApiError);
    const e = err as ApiError;
    assert.equal([e.status, e.code, e.message], [409, "org_exists", 'org "acme" already exists']);
  }
});

test("an error answer in another format still says what came back", async () => {
  answer = { status: 502, body: "<html>Bad Gateway</html>", type: "text/html" };
  try {
    await new ApiClient({ server: base }).health();
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ApiError);
    assert.is((err as ApiError).status, 502);
    assert.match((err as Error).message, "Bad Gateway");
  }
});

test("a 2xx answer of the wrong shape is an ApiResponseError naming the field", async () => {
  answer = { status: 200, body: JSON.stringify({ orgs: [{ ...org, repoUrl: 7 }] }) };
  try {
    await new ApiClient({ server: base, token: "t" }).listOrgs();
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ApiResponseError);
    assert.match((err as Error).message, "orgs.0.repoUrl");
  }
});

test("nothing listening is an ApiUnreachableError naming the URL and the cause", async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  try {
    await new ApiClient({ server: `http://127.0.0.1:${port}` }).health();
    assert.unreachable();
  } catch (err) {
    assert.instance(err, ApiUnreachableError);
    assert.is(
      (err as Error).message,
      `cannot reach the flox server at http://127.0.0.1:${port}: ECONNREFUSED — is \`flox server\` running?`,
    );
  }
});

test("no token means no Authorization header", async () => {
  answer = { status: 200, body: JSON.stringify({ ok: true, version: "0.1.0" }) };
  assert.equal(await new ApiClient({ server: base }).health(), { ok: true, version: "0.1.0" });
  assert.is(seen[0]?.authorization, undefined);
});

test.run();
