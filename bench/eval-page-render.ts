// Render time of the evaluation page for an evaluation of 2,000 jobs (the page shows 100 jobs at a time, the
// comparison on top, problems collapsed per package), beside peers from the same run on the same data:
//   - its JSON twin, GET /api/v1/evaluations/:id (the same data through the API's presenters, no HTML);
//   - a one-page baseline: every job in one HTML table built by string concatenation with escaping (what a
//     Hydra-style page that lists everything costs; no framework, no paging).
// The database is seeded directly (two evaluations of N jobs sharing most builds, failures, 40 problems) and
// requests go through the in-process app (`app.request`, no socket). Asserts nothing. It runs once on SQLite and
// once on a throwaway PostgreSQL (bench/dialects.ts), each in its own process, and prints each case's medians
// beside each other.
// Run after a build: `npx tsc -p tsconfig.json && node dist/bench/eval-page-render.js [jobs] [rounds]`.
import { execFileSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { BuildState } from "../lib/api/builds.js";
import { builds, evalJobs, evalProblems, evaluations, jobsets, pushes } from "../server/db/tables.js";
import { getEvaluation } from "../server/evaluations/data.js";
import { evaluationDetail } from "../server/evaluations/present.js";
import { findOrg } from "../server/orgs/orgs.js";
import { repoDir } from "../server/paths.js";
import { escapeHtml } from "../server/web/ansi.js";
import { createTestApp } from "../testing/app.js";
import { load, printBeside, reportSide, runBothDialects, sideDatabase } from "./dialects.js";

const JOBS = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 40);

const database = sideDatabase();
if (!database) {
  const both = await runBothDialects(fileURLToPath(import.meta.url), process.argv.slice(2));
  console.log(`--- medians, PostgreSQL beside SQLite (load ${load()})`);
  for (const key of Object.keys(both.sqlite)) printBeside(key, both, key, "ms");
  process.exit(0);
}

const t = await createTestApp({ database });
await t.api("POST", "/api/v1/orgs", { name: "acme" });
const org = await findOrg(t.db, "acme");
if (!org) throw new Error("no org");
const git = (...args: string[]) =>
  execFileSync("git", ["--git-dir", repoDir(t.paths.repos, "acme"), ...args], {
    input: "",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "Bench",
      GIT_AUTHOR_EMAIL: "b@x",
      GIT_COMMITTER_NAME: "Bench",
      GIT_COMMITTER_EMAIL: "b@x",
    },
  })
    .toString()
    .trim();
const tree = git("mktree");
const sha1 = git("commit-tree", tree, "-m", "first: 2,000 packages");
const sha2 = git("commit-tree", tree, "-p", sha1, "-m", "second: some fixed, some broken");

const hash = (i: number, e: number) => `${String(i).padStart(8, "0")}${e}`.padEnd(32, "a").slice(0, 32);
const states: BuildState[] = [
  "succeeded",
  "succeeded",
  "succeeded",
  "cached",
  "failed",
  "dependency-failed",
  "running",
  "queued",
];

const jobset = await t.db.insert(jobsets).values({ orgId: org.id, branch: "main" }).returning().then(one);
let evalId = 0;
await inTransaction(t.db, async (tx) => {
  for (const [n, sha] of [
    [1, sha1],
    [2, sha2],
  ] as const) {
    const push = await tx
      .insert(pushes)
      .values({
        orgId: org.id,
        ref: "refs/heads/main",
        oldSha: "0".repeat(40),
        newSha: sha,
        pushOptions: [],
        source: "hook",
      })
      .returning()
      .then(one);
    const ev = await tx
      .insert(evaluations)
      .values({
        jobsetId: jobset.id,
        pushId: push.id,
        commitSha: sha,
        state: "succeeded",
        jobCount: JOBS,
        problemCount: n === 2 ? 40 : 0,
        startedAt: new Date(Date.now() - 60_000).toISOString(),
        finishedAt: new Date(Date.now() - 50_000).toISOString(),
      })
      .returning()
      .then(one);
    evalId = ev.id;
    for (let i = 0; i < JOBS; i++) {
      // The second evaluation changes every 10th package (a new build) and keeps the rest (shared builds).
      const e = n === 2 && i % 10 === 0 ? 2 : 1;
      const drvPath = `/nix/store/${hash(i, e)}-pkg-${i}-1.0.drv`;
      const shared: { id: number } | undefined = await tx
        .select({ id: builds.id })
        .from(builds)
        .where(sqlEq(drvPath))
        .then(first);
      const b: { id: number } =
        shared ??
        (await tx
          .insert(builds)
          .values({
            drvPath,
            system: "x86_64-linux",
            requiredFeatures: [],
            outputs: { out: `/nix/store/${hash(i, e + 5)}-pkg-${i}-1.0` },
            state: states[(i * 7 + e) % states.length] as BuildState,
            startedAt: new Date(Date.now() - 40_000).toISOString(),
            finishedAt: new Date(Date.now() - 1_000 * (i % 30)).toISOString(),
          })
          .returning({ id: builds.id })
          .then(one));
      await tx.insert(evalJobs).values({
        evaluationId: ev.id,
        attr: `pkg-${String(i).padStart(4, "0")}`,
        name: `pkg-${i}-1.0`,
        system: "x86_64-linux",
        drvPath,
        outputs: { out: `/nix/store/${hash(i, e + 5)}-pkg-${i}-1.0` },
        buildId: b.id,
      });
    }
    if (n === 2) {
      for (let p = 0; p < 40; p++) {
        await tx.insert(evalProblems).values({
          evaluationId: ev.id,
          attr: `broken-${p % 12}`,
          path: `pkgs/broken-${p % 12}/default.nix`,
          line: 3 + p,
          message: `undefined variable 'libfoo${p}' <with markup & such>`,
          hint: "add it to the function's arguments",
        });
      }
    }
  }
});

import { eq } from "drizzle-orm";
import { first, one } from "../server/db/raw.js";
import { inTransaction } from "../server/db/transaction.js";

function sqlEq(drvPath: string) {
  return eq(builds.drvPath, drvPath);
}

/** Hydra-style: every job in one table, plain strings with escaping. */
async function onePageBaseline(): Promise<string> {
  const { evaluation: ev } = await evaluationDetail(t.db, await getEvaluation(t.db, evalId));
  let html = `<!doctype html><html><head><title>Evaluation ${ev.id}</title></head><body><h1>Evaluation ${ev.id}</h1><table>`;
  for (const j of ev.jobs) {
    html += `<tr><td><a href="/acme/builds/${j.build.id}">${escapeHtml(j.attr)}</a></td><td>${escapeHtml(j.name)}</td><td>${j.build.state}</td><td><code>${escapeHtml(j.drvPath)}</code></td></tr>`;
  }
  for (const p of ev.problems)
    html += `<tr><td colspan="4">${escapeHtml(`${p.path}:${p.line}: ${p.message}`)}</td></tr>`;
  return `${html}</table></body></html>`;
}

const auth = { authorization: `Bearer ${t.adminToken}` };
const cases: [string, () => Promise<string>][] = [
  [
    "page /acme/evaluations/N (100 jobs shown)",
    async () =>
      (
        await t.app.request(`http://flox.test/acme/evaluations/${evalId}`, {
          headers: { ...auth, accept: "text/html" },
        })
      ).text(),
  ],
  [
    "page ?state=failing",
    async () =>
      (
        await t.app.request(`http://flox.test/acme/evaluations/${evalId}?state=failing`, {
          headers: { ...auth, accept: "text/html" },
        })
      ).text(),
  ],
  [
    "JSON twin (same URL, Accept: json)",
    async () =>
      (
        await t.app.request(`http://flox.test/acme/evaluations/${evalId}`, {
          headers: { ...auth, accept: "application/json" },
        })
      ).text(),
  ],
  [
    "API GET /api/v1/evaluations/N",
    async () =>
      (await t.app.request(`http://flox.test/api/v1/evaluations/${evalId}`, { headers: auth })).text(),
  ],
  ["baseline: all jobs, one string-built page", async () => onePageBaseline()],
  [
    "data only: evaluationDetail() + JSON.stringify",
    async () => JSON.stringify(await evaluationDetail(t.db, await getEvaluation(t.db, evalId))).slice(0, 0),
  ],
];

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};
console.log(
  `evaluation of ${JOBS} jobs (40 problems in 12 packages), ${ROUNDS} rounds of each (round-robin) after 5 warm-up; in-process app.request`,
);
// Round-robin, so that the machine's other load and the GC fall on every case alike.
for (const [, run] of cases) for (let i = 0; i < 5; i++) await run();
const times = cases.map(() => [] as number[]);
const bytes = cases.map(() => 0);
for (let r = 0; r < ROUNDS; r++) {
  for (const [i, [, run]] of cases.entries()) {
    const t0 = performance.now();
    const body = await run();
    times[i]?.push(performance.now() - t0);
    bytes[i] = Buffer.byteLength(body);
  }
}
const figures: Record<string, number> = {};
for (const [i, [name]] of cases.entries()) {
  const ts = times[i] ?? [];
  figures[name] = pct(ts, 50);
  console.log(
    `${name.padEnd(46)} median ${pct(ts, 50).toFixed(1).padStart(6)} ms  p95 ${pct(ts, 95).toFixed(1).padStart(6)} ms  ${((bytes[i] ?? 0) / 1024).toFixed(0).padStart(6)} KiB`,
  );
}
if (process.env.FLOX_BENCH_SERVE) {
  // Look at the seeded pages in a browser: FLOX_BENCH_SERVE=8099 node dist/bench/eval-page-render.js
  const { serve } = await import("@hono/node-server");
  serve({ fetch: t.app.fetch, port: Number(process.env.FLOX_BENCH_SERVE), hostname: "127.0.0.1" });
  console.log(
    `serving http://127.0.0.1:${process.env.FLOX_BENCH_SERVE}/acme/evaluations/${evalId} (token ${t.adminToken})`,
  );
} else {
  t.cleanup();
  reportSide(figures);
}
