import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { BuildState } from "../lib/api/builds.js";
import type { EvalProblem, Evaluation, EvaluationState } from "../lib/api/evaluations.js";
import type { EvaluationProgressResponse as Progress, ProgressJob } from "../lib/api/internal.js";
import { BuildProgress, elapsed, waitForResults } from "./push-wait.js";

const job = (attr: string, id: number, state: BuildState): ProgressJob => ({ attr, build: { id, state } });

test("BuildProgress sums up what was built before, names failures, and counts each finished build once", () => {
  const p = new BuildProgress();
  assert.equal(
    p.update([
      job("a", 1, "queued"),
      job("b", 2, "cached"),
      job("c", 3, "failed"),
      job("d", 4, "succeeded"),
      job("e", 5, "running"),
    ]),
    ["[2/5] 2 packages already built", "[3/5] c failed (build 3) — see: flox log 3", "e building (build 5)"],
  );
  assert.not.ok(p.finished);
  assert.is(p.describeWaiting(), "waiting for 2 of 5 builds: 1 building, 1 queued");
  // Nothing changed: nothing to say.
  assert.equal(
    p.update([
      job("a", 1, "queued"),
      job("b", 2, "cached"),
      job("c", 3, "failed"),
      job("d", 4, "succeeded"),
      job("e", 5, "running"),
    ]),
    [],
  );
  assert.equal(
    p.update([
      job("a", 1, "running"),
      job("b", 2, "cached"),
      job("c", 3, "failed"),
      job("d", 4, "succeeded"),
      job("e", 5, "timed-out"),
    ]),
    ["a building (build 1)", "[4/5] e timed-out (build 5) — see: flox log 5"],
  );
  assert.equal(
    p.update([
      job("a", 1, "dependency-failed"),
      job("b", 2, "cached"),
      job("c", 3, "failed"),
      job("d", 4, "succeeded"),
      job("e", 5, "timed-out"),
    ]),
    ["[5/5] a dependency-failed (build 1)"],
  );
  assert.ok(p.finished);
  assert.equal(
    p.failures.map((j) => j.attr),
    ["a", "c", "e"],
  );
});

test("BuildProgress: a build back in the queue, and one restarted after it failed", () => {
  const p = new BuildProgress();
  assert.equal(p.update([job("x", 9, "running"), job("y", 10, "failed")]), [
    "x building (build 9)",
    "[1/2] y failed (build 10) — see: flox log 10",
  ]);
  assert.equal(p.update([job("x", 9, "queued"), job("y", 10, "queued")]), [
    "x back in the queue (build 9)",
    "y queued again (build 10)",
  ]);
  assert.equal(p.update([job("x", 9, "succeeded"), job("y", 10, "succeeded")]), [
    "[1/2] x succeeded (build 9)",
    "[2/2] y succeeded (build 10)",
  ]);
  assert.ok(p.finished);
  assert.equal(p.failures, []);
});

test("BuildProgress with no jobs is finished at once", () => {
  const p = new BuildProgress();
  assert.equal(p.update([]), []);
  assert.ok(p.finished);
});

test("elapsed", () => {
  assert.is(elapsed(0), "0m00s");
  assert.is(elapsed(65_400), "1m05s");
  assert.is(elapsed(3_600_000), "60m00s");
});

const evaluation = (state: EvaluationState, error: string | null = null): Evaluation => ({
  id: 7,
  org: "acme",
  branch: "main",
  pushId: 1,
  commitSha: "abcdef0123456789abcdef0123456789abcdef01",
  state,
  error,
  counts: { jobs: 1, problems: 0, newBuilds: 1, sharedBuilds: 0, cachedBuilds: 0, failedBuilds: 0 },
  createdAt: "2026-01-01T00:00:00.000Z",
  startedAt: null,
  finishedAt: null,
});

/** A progress answer, or an error status in its place (a server restarting, its database away). */
type Answer = Partial<Progress> | { status: number };

/**
 * A server answering the progress long-poll with `answers` in turn (the last one again when they run out), and
 * keeping the verdicts it got.
 */
async function fakeServer(answers: Answer[], delayMs = 0) {
  let n = 0;
  const verdicts: unknown[] = [];
  const queries: string[] = [];
  const server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    if (req.url?.includes("/verdict")) {
      res.writeHead(200, { "content-type": "application/json" });
      verdicts.push(JSON.parse(body));
      return res.end(JSON.stringify({ delivered: true }));
    }
    queries.push(req.url ?? "");
    await new Promise((r) => setTimeout(r, delayMs));
    const a = answers[Math.min(n++, answers.length - 1)];
    if (a && "status" in a) {
      res.writeHead(a.status, { "content-type": "application/json" });
      return res.end(
        JSON.stringify({ error: { code: "database_unavailable", message: "the database is away" } }),
      );
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ problems: [], jobs: [], connected: true, version: `v${n}`, ...a }));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, verdicts, queries };
}

async function follow(
  answers: Answer[],
  opts: { heartbeatMs?: number; delayMs?: number; outageMs?: number; retryMs?: number } = {},
) {
  const s = await fakeServer(answers, opts.delayMs);
  const lines: string[] = [];
  const shown: Array<[string, EvalProblem[]]> = [];
  try {
    await waitForResults(s.url, "secret", "r1", [evaluation("queued")], [], {
      say: (l) => lines.push(l),
      sayEvaluation: (e, problems) => shown.push([e.state, problems]),
      ...(opts.heartbeatMs ? { heartbeatMs: opts.heartbeatMs } : {}),
      ...(opts.outageMs ? { outageMs: opts.outageMs } : {}),
      ...(opts.retryMs ? { retryMs: opts.retryMs } : {}),
    });
  } finally {
    s.server.close();
  }
  return { lines, shown, verdicts: s.verdicts, queries: s.queries };
}

test("waitForResults: all built — no verdict, `since` follows the versions", async () => {
  const r = await follow([
    { evaluation: evaluation("running") },
    { evaluation: evaluation("succeeded"), jobs: [job("x", 1, "running")] },
    { evaluation: evaluation("succeeded"), jobs: [job("x", 1, "succeeded")] },
  ]);
  assert.equal(r.lines, [
    "x building (build 1)",
    "[1/1] x succeeded (build 1)",
    "CI passed: acme/main at abcdef0: the build succeeded",
  ]);
  assert.equal(r.shown, [["succeeded", []]]);
  assert.equal(r.verdicts, []);
  assert.not.match(r.queries[0] ?? "", "since=");
  assert.match(r.queries[1] ?? "", "since=v1");
  assert.match(r.queries[2] ?? "", "since=v2");
  assert.match(r.queries[0] ?? "", "receive=r1");
});

test("waitForResults: a failed evaluation fails the push", async () => {
  const r = await follow([{ evaluation: evaluation("failed", "nix-instantiate crashed") }]);
  assert.equal(r.verdicts, [
    {
      ok: false,
      message:
        "CI failed for this push (its refs were updated): acme/main at abcdef0: evaluation #7 failed: nix-instantiate crashed",
    },
  ]);
});

test("waitForResults: evaluation problems fail the push even when every build succeeded", async () => {
  const problem = { attr: "y", path: "pkgs/y/default.nix", line: 3, message: "boom", hint: null };
  const r = await follow([
    { evaluation: evaluation("succeeded"), problems: [problem], jobs: [job("x", 1, "cached")] },
  ]);
  assert.equal(r.shown, [["succeeded", [problem]]]);
  assert.equal(r.lines, [
    "[1/1] 1 package already built",
    "CI failed: acme/main at abcdef0: 1 evaluation problem (evaluation #7)",
  ]);
  assert.is(r.verdicts.length, 1);
});

test("waitForResults: when the client left, it stops without a verdict", async () => {
  const r = await follow([
    { evaluation: evaluation("succeeded"), jobs: [job("x", 1, "queued")] },
    { evaluation: evaluation("succeeded"), jobs: [job("x", 1, "failed")], connected: false },
  ]);
  assert.equal(r.verdicts, []);
  assert.not.ok(r.lines.some((l) => l.startsWith("CI ")));
});

test("waitForResults says it is still waiting when nothing happens for a while", async () => {
  const queued = { evaluation: evaluation("succeeded"), jobs: [job("x", 1, "queued")], version: "same" };
  const r = await follow(
    [
      ...Array(8).fill(queued),
      { evaluation: evaluation("succeeded"), jobs: [job("x", 1, "succeeded")], version: "done" },
    ],
    { heartbeatMs: 300, delayMs: 100 },
  );
  const beats = r.lines.filter((l) => /^waiting for 1 of 1 build: 0 building, 1 queued \(0m0\ds\)$/.test(l));
  assert.ok(beats.length >= 2, r.lines.join("\n"));
  assert.is(r.lines.at(-1), "CI passed: acme/main at abcdef0: the build succeeded");
});

test("waitForResults waits out a server that answers 503 for a while, saying so, and follows on", async () => {
  const queued = { evaluation: evaluation("succeeded"), jobs: [job("x", 1, "queued")], version: "same" };
  const r = await follow(
    [
      queued,
      ...Array(6).fill({ status: 503 }),
      { evaluation: evaluation("succeeded"), jobs: [job("x", 1, "succeeded")], version: "done" },
    ],
    { heartbeatMs: 300, retryMs: 50, outageMs: 10_000 },
  );
  assert.ok(
    r.lines.some((l) => /^the server does not answer \(.*503.*\); still waiting$/.test(l)),
    r.lines.join("\n"),
  );
  assert.is(r.lines.at(-1), "CI passed: acme/main at abcdef0: the build succeeded");
});

test("waitForResults stops following once the server has not answered for the whole outage budget", async () => {
  const queued = { evaluation: evaluation("succeeded"), jobs: [job("x", 1, "queued")], version: "same" };
  const r = await follow([queued, { status: 503 }], { heartbeatMs: 300, retryMs: 50, outageMs: 600 });
  assert.match(
    r.lines.at(-1) ?? "",
    /^flox: lost track of evaluation #7 \(.*503.*\); it goes on without us$/,
  );
  assert.equal(r.verdicts, [
    {
      ok: false,
      message:
        "CI failed for this push (its refs were updated): acme/main at abcdef0: could not follow evaluation #7",
    },
  ]);
});

test("waitForResults stops after four tries when the server does not answer at all (gone, and the push with it)", async () => {
  const lines: string[] = [];
  const gone = await fakeServer([]);
  gone.server.close();
  await once(gone.server, "close");
  await waitForResults(gone.url, "secret", "r1", [evaluation("queued")], [], {
    say: (l) => lines.push(l),
    sayEvaluation: () => {},
    retryMs: 10,
    outageMs: 600_000,
  });
  assert.match(lines.join("\n"), /lost track of evaluation #7 \(/);
});

test.run();
