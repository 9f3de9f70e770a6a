// Evaluation ingest of a 500-package push, PostgreSQL beside SQLite: a real `flox server` (testing/server.ts) on
// each database, a generated repo (bench/generated-repo.ts) whose every package changes each round (500 new
// builds), timed from `git push` starting until the API shows the evaluation finished; the server's own
// evaluation span (startedAt → finishedAt: Nix's evaluation, then writing the jobs and builds) beside it.
// Run after a build: `node dist/bench/eval-ingest.js [packages] [rounds]` (default 500 packages, 3 rounds).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { commitAll, git, ms, sleep } from "../testing/bench-ci.js";
import { ensureCompiledHooks } from "../testing/repos.js";
import { startTestServer } from "../testing/server.js";
import { load, median, printBeside, reportSide, runBothDialects, sideDatabase } from "./dialects.js";
import { writeRepo } from "./generated-repo.js";

const PACKAGES = Number(process.argv[2] ?? 500);
const ROUNDS = Number(process.argv[3] ?? 3);

interface EvaluationRow {
  id: number;
  commitSha: string;
  state: string;
  startedAt: string | null;
  finishedAt: string | null;
  counts: { jobs?: number };
}

async function side(url: string): Promise<void> {
  await ensureCompiledHooks();
  const tmp = mkdtempSync(join(tmpdir(), "flox-bench-ingest-"));
  const srv = await startTestServer({ args: ["--database", url], startTimeoutMs: 120_000 });
  try {
    if ((await srv.api("POST", "/api/v1/orgs", { name: "bench" })).status !== 201) throw new Error("no org");
    const work = join(tmp, "work");
    writeRepo(work, PACKAGES, "");
    await git(work, "init", "-q", "-b", "main");
    const totals: number[] = [];
    const spans: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      writeRepo(work, PACKAGES, ` round ${round}`);
      const sha = await commitAll(work, `round ${round}`);
      const t0 = performance.now();
      const pushed = await execa(
        "git",
        ["push", "-q", srv.gitUrl("bench", srv.adminToken), "HEAD:refs/heads/main"],
        {
          cwd: work,
          reject: false,
        },
      );
      if (pushed.exitCode !== 0) throw new Error(`git push failed: ${pushed.stderr}`);
      let ev: EvaluationRow | undefined;
      for (;;) {
        const r = await srv.api("GET", "/api/v1/orgs/bench/jobsets/main/evaluations");
        ev = (r.body?.evaluations as EvaluationRow[] | undefined)?.find((e) => e.commitSha === sha);
        if (ev && ev.state !== "queued" && ev.state !== "running") break;
        await sleep(50);
      }
      const total = performance.now() - t0;
      if (ev.state !== "succeeded") throw new Error(`evaluation ${ev.id} ${ev.state}`);
      const span = ms(ev.finishedAt) - ms(ev.startedAt);
      totals.push(total);
      spans.push(span);
      console.log(
        `  round ${round}: evaluation #${ev.id} succeeded ${total.toFixed(0)} ms after the push started; evaluated and written in ${span.toFixed(0)} ms (load ${load()})`,
      );
    }
    reportSide({ pushToEvaluated: median(totals), evaluationSpan: median(spans) });
  } finally {
    await srv.stop();
    await execa("chmod", ["-R", "u+w", tmp], { reject: false });
    rmSync(tmp, { recursive: true, force: true });
  }
}

const url = sideDatabase();
if (url) await side(url);
else {
  console.log(`${PACKAGES}-package pushes, every package changed each round, ${ROUNDS} rounds per database`);
  const both = await runBothDialects(fileURLToPath(import.meta.url), process.argv.slice(2));
  printBeside("push → evaluation finished, median", both, "pushToEvaluated", "ms");
  printBeside("the server's evaluation span, median", both, "evaluationSpan", "ms");
  console.log(`load after: ${load()}`);
}
