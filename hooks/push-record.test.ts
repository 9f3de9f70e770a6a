import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  deliverPush,
  type PushRecord,
  PushRecordRejectedError,
  SPOOL_FILE,
  spoolPush,
} from "./push-record.js";

const record: PushRecord = {
  org: "acme",
  ref: "refs/heads/main",
  oldSha: "0".repeat(40),
  newSha: "a".repeat(40),
  pushOptions: ["skip-ci"],
};

/** A server answering the n-th request with answers[n] (status, body). */
async function serve(
  answers: [number, unknown][],
): Promise<{ url: string; server: Server; hits: () => number }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const [status, body] = answers[Math.min(n++, answers.length - 1)] as [number, unknown];
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits: () => n };
}

test("deliverPush retries server errors, then returns the id", async () => {
  const s = await serve([
    [503, { error: { code: "busy", message: "try later" } }],
    [500, {}],
    [201, { push: { id: 42 } }],
  ]);
  try {
    assert.is(await deliverPush(s.url, "secret", record, { backoffMs: 1 }), 42);
    assert.is(s.hits(), 3);
  } finally {
    s.server.close();
  }
});

test("deliverPush gives up at once on a 4xx, with the server's message", async () => {
  const s = await serve([[401, { error: { code: "unauthorized", message: "unknown hook secret" } }]]);
  try {
    await deliverPush(s.url, "wrong", record, { backoffMs: 1 });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, PushRecordRejectedError);
    assert.is((err as Error).message, "HTTP 401: unknown hook secret");
    assert.is(s.hits(), 1);
  } finally {
    s.server.close();
  }
});

test("spoolPush appends one JSON line per record", async () => {
  const dir = await mkdtemp(join(tmpdir(), "flox-spool-"));
  try {
    await spoolPush(dir, record, "first");
    const file = await spoolPush(dir, { ...record, ref: "refs/heads/b" }, "second");
    assert.is(file, join(dir, SPOOL_FILE));
    const lines = (await readFile(file, "utf8"))
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(
      lines.map(({ spooledAt, ...rest }) => rest),
      [
        { ...record, error: "first" },
        { ...record, ref: "refs/heads/b", error: "second" },
      ],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
