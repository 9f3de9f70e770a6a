import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Evaluation, EvaluationState } from "../lib/api/evaluations.js";
import { type InternalPushBody, SPOOL_FILE } from "../lib/api/internal.js";
import {
  awaitEvaluation,
  deliverPush,
  deliverPushRecord,
  describeEvaluation,
  PushRecordRejectedError,
  spoolPush,
} from "./push-record.js";

const record: InternalPushBody = {
  org: "acme",
  ref: "refs/heads/main",
  oldSha: "0".repeat(40),
  newSha: "a".repeat(40),
  pushOptions: ["skip-ci"],
};

/** The server's push record of `record`, as `POST /internal/pushes` answers it. */
const push = (id: number) => ({ ...record, id, source: "hook", receivedAt: "2026-01-01T00:00:00.000Z" });

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
    [201, { push: push(42) }],
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

const evaluation = (state: EvaluationState, counts: Partial<Evaluation["counts"]> = {}): Evaluation => ({
  id: 7,
  org: "acme",
  branch: "main",
  pushId: 1,
  commitSha: "abcdef0123456789abcdef0123456789abcdef01",
  state,
  error: null,
  counts: {
    jobs: 3,
    problems: 0,
    newBuilds: 3,
    sharedBuilds: 0,
    cachedBuilds: 0,
    failedBuilds: 0,
    ...counts,
  },
  createdAt: "2026-01-01T00:00:00.000Z",
  startedAt: null,
  finishedAt: null,
});

test("deliverPushRecord hands back the evaluation the push queued (none from an older server)", async () => {
  const s = await serve([
    [201, { push: push(1), evaluation: evaluation("queued") }],
    [201, { push: push(2) }],
  ]);
  try {
    assert.equal(await deliverPushRecord(s.url, "secret", record), {
      id: 1,
      evaluation: evaluation("queued"),
    });
    assert.equal(await deliverPushRecord(s.url, "secret", record), { id: 2, evaluation: null });
  } finally {
    s.server.close();
  }
});

test("awaitEvaluation polls until the evaluation finished", async () => {
  const s = await serve([
    [200, { evaluation: evaluation("running"), problems: [] }],
    [
      200,
      {
        evaluation: evaluation("succeeded"),
        problems: [{ attr: "x", path: "pkgs/x/default.nix", line: 2, message: "m", hint: null }],
      },
    ],
  ]);
  try {
    const answer = await awaitEvaluation(s.url, "secret", 1, Date.now() + 60_000);
    assert.is(answer?.evaluation?.state, "succeeded");
    assert.is(answer?.problems.length, 1);
    assert.is(s.hits(), 2);
  } finally {
    s.server.close();
  }
});

test("describeEvaluation says what is built, shared and new", () => {
  assert.is(
    describeEvaluation(evaluation("succeeded")),
    "evaluation #7 of acme/main at abcdef0: 3 jobs, 3 to build, 0 already built",
  );
  assert.is(
    describeEvaluation(
      evaluation("succeeded", { jobs: 4, newBuilds: 0, sharedBuilds: 2, cachedBuilds: 1, failedBuilds: 1 }),
    ),
    "evaluation #7 of acme/main at abcdef0: 4 jobs, 0 to build, 2 already queued, 1 already built, 1 failed before",
  );
});

test.run();
