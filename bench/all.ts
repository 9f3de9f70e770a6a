// `npm run bench`: every hot-path bench in a quick mode, one table of each figure beside its peer from the same
// run, the ratio and issue 16's goal, written also as JSON to bench/results.json. Each bench runs as its own
// process (as it would alone) and hands its headline figures back through FLOX_BENCH_OUT (bench/figures-out.ts).
// Prints figures; asserts nothing. `node dist/bench/all.js [--only id,id]`; BENCH_QUICK=0 for the full sizes.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { projectRoot } from "../lib/project-root.js";
import type { BenchFigure } from "./figures-out.js";

/**
 * How a row's ratio is formed and judged:
 * - "more": ours/peer, goal is a floor (throughput);
 * - "faster": peer/ours for times, so >1 means we are faster; goal is a floor;
 * - "slower": ours/peer for times; goal is a ceiling;
 * - "extra": ours − peer in ms must stay under `goal` (ratio shown as ours/peer for reference).
 */
type Rule = "more" | "faster" | "slower" | "extra";

interface Row {
  id: string;
  what: string;
  rule: Rule;
  goal: number;
  goalText: string;
}

/** Issue 16's table, in its order. */
const ROWS: Row[] = [
  {
    id: "narinfo-1",
    what: "narinfo requests/s, 1 connection",
    rule: "more",
    goal: 0.8,
    goalText: "≥ 0.8× nginx",
  },
  {
    id: "narinfo-16",
    what: "narinfo requests/s, 16 connections",
    rule: "more",
    goal: 0.8,
    goalText: "≥ 0.8× nginx",
  },
  { id: "nar-1", what: "NAR MiB/s, 1 connection", rule: "more", goal: 0.7, goalText: "≥ 0.7× nginx" },
  { id: "nar-16", what: "NAR MiB/s, 16 connections", rule: "more", goal: 0.7, goalText: "≥ 0.7× nginx" },
  {
    id: "push-to-built",
    what: "push → built, one-package change",
    rule: "extra",
    goal: 500,
    goalText: "≤ nix-build + 500 ms",
  },
  {
    id: "skip-ci-push",
    what: "git push -o skip-ci",
    rule: "slower",
    goal: 1.5,
    goalText: "≤ 1.5× plain push (http-backend, nginx)",
  },
  {
    id: "builders-two",
    what: "two builders vs one, 20 × sleep 1",
    rule: "faster",
    goal: 1.8,
    goalText: "≥ 1.8× one builder",
  },
  {
    id: "build-step",
    what: "build step (claim → succeeded) beyond Nix",
    rule: "extra",
    goal: 200,
    goalText: "≤ nix-build + 200 ms",
  },
  {
    id: "agent-whole-nar",
    what: "whole-NAR fetch through the agent",
    rule: "faster",
    goal: 1.0,
    goalText: "≥ 1.0× nix-store -r",
  },
  {
    id: "agent-fetch-core",
    what: "the same fetch without FUSE (the worker pipeline alone)",
    rule: "faster",
    goal: 1.0,
    goalText: "≥ 1.0× nix-store -r",
  },
  {
    id: "fuse-reread",
    what: "FUSE warm re-read of 128 MiB",
    rule: "slower",
    goal: 1.5,
    goalText: "≤ 1.5× native",
  },
  {
    id: "fuse-reread-c",
    what: "the same re-read through a C libfuse passthrough (the kernel's floor)",
    rule: "slower",
    goal: 1.5,
    goalText: "≤ 1.5× native (can any FUSE server?)",
  },
];

interface Bench {
  script: string;
  args: string[];
  env?: Record<string, string>;
  /** Needs root and /dev/fuse. */
  fuse?: boolean;
  rows: string[];
}

const quick = process.env.BENCH_QUICK !== "0";
const BENCHES: Bench[] = [
  {
    script: "storehouse-vs-nginx",
    args: [quick ? "2" : "5"],
    rows: ["narinfo-1", "narinfo-16", "nar-1", "nar-16"],
  },
  {
    script: "push-to-built",
    args: [quick ? "3" : "5"],
    rows: ["push-to-built", "skip-ci-push", "build-step"],
  },
  // Three rounds even in the quick mode: one run each swung 1.67–1.80× on unchanged code.
  { script: "builders-one-vs-two", args: ["sleep", quick ? "3" : "5"], rows: ["builders-two"] },
  {
    script: "fs-agent-big-path",
    args: [],
    env: quick ? { BENCH_FILES: "8", BENCH_MIB_EACH: "8", BENCH_ROUNDS: "3" } : { BENCH_ROUNDS: "3" },
    fuse: true,
    rows: ["agent-whole-nar"],
  },
  {
    script: "fs-agent-fetch-core",
    args: [],
    env: quick ? { BENCH_ROUNDS: "5" } : {},
    rows: ["agent-fetch-core"],
  },
  {
    script: "fs-agent",
    args: [],
    env: quick ? { BENCH_DIRS: "40", BENCH_FILES: "10" } : {},
    fuse: true,
    rows: ["fuse-reread", "fuse-reread-c"],
  },
];

interface Result {
  id: string;
  what: string;
  unit: string | null;
  ours: number | null;
  peer: number | null;
  peerLabel: string | null;
  how: string | null;
  ratio: number | null;
  /** ours − peer, for the "extra" rows. */
  extraMs: number | null;
  goal: string;
  met: boolean | null;
  load: string;
  note: string | null;
}

const load = () => (loadavg()[0] ?? Number.NaN).toFixed(2);
const only = (() => {
  const i = process.argv.indexOf("--only");
  return i >= 0 ? new Set((process.argv[i + 1] ?? "").split(",")) : undefined;
})();
const perBenchTimeout = Number(process.env.BENCH_TIMEOUT_S ?? 300) * 1000;

/** Runs one bench script, its output passed through; resolves with the figures it emitted and how it ended. */
function runBench(b: Bench, out: string): Promise<{ figures: BenchFigure[]; error: string | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(projectRoot, "dist", "bench", `${b.script}.js`), ...b.args], {
      stdio: "inherit",
      env: { ...process.env, ...b.env, FLOX_BENCH_OUT: out },
    });
    const timer = setTimeout(() => child.kill("SIGTERM"), perBenchTimeout);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      const figures = existsSync(out)
        ? readFileSync(out, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((l) => JSON.parse(l) as BenchFigure)
        : [];
      const error =
        code === 0
          ? null
          : signal
            ? `stopped by ${signal} (timeout ${perBenchTimeout / 1000} s?)`
            : `exit ${code}`;
      resolve({ figures, error });
    });
  });
}

function judge(row: Row, f: BenchFigure | undefined, loadAt: string, note: string | null): Result {
  const base: Result = {
    id: row.id,
    what: row.what,
    unit: null,
    ours: null,
    peer: null,
    peerLabel: null,
    how: null,
    ratio: null,
    extraMs: null,
    goal: row.goalText,
    met: null,
    load: loadAt,
    note,
  };
  if (!f || !Number.isFinite(f.ours) || f.ours <= 0) return base;
  const known = { unit: f.unit, ours: f.ours, how: f.how };
  if (!Number.isFinite(f.peer) || f.peer <= 0)
    return { ...base, ...known, note: note ?? `no peer: ${f.peerLabel}` };
  const r: Result = { ...base, ...known, peer: f.peer, peerLabel: f.peerLabel };
  switch (row.rule) {
    case "more":
      r.ratio = f.ours / f.peer;
      r.met = r.ratio >= row.goal;
      break;
    case "faster":
      r.ratio = f.peer / f.ours;
      r.met = r.ratio >= row.goal;
      break;
    case "slower":
      r.ratio = f.ours / f.peer;
      r.met = r.ratio <= row.goal;
      break;
    case "extra":
      r.ratio = f.ours / f.peer;
      r.extraMs = f.ours - f.peer;
      r.met = r.extraMs <= row.goal;
      break;
  }
  return r;
}

const num = (x: number | null, unit: string | null) =>
  x === null ? "—" : `${x >= 100 ? x.toFixed(0) : x.toFixed(1)}${unit ? ` ${unit}` : ""}`;

function printTable(results: Result[]): void {
  const header = ["what", "flox", "peer", "ratio", "goal", "met", "load"];
  const lines = results.map((r) => [
    r.what,
    num(r.ours, r.unit),
    r.peer === null ? "—" : `${num(r.peer, r.unit)} (${r.peerLabel})`,
    r.ratio === null
      ? "—"
      : `${r.ratio.toFixed(2)}×${r.extraMs === null ? "" : ` (+${r.extraMs.toFixed(0)} ms)`}`,
    r.goal,
    r.met === null ? (r.note ?? "not measured") : r.met ? "yes" : "no",
    r.load,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  console.log(fmt(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const l of lines) console.log(fmt(l));
}

async function main(): Promise<void> {
  const started = new Date();
  const startLoad = load();
  console.log(
    `npm run bench (${quick ? "quick" : "full"} mode), ${started.toISOString()}, ${cpus().length} cores, 1-min load average at the start: ${startLoad}`,
  );
  const tmp = mkdtempSync(join(tmpdir(), "flox-bench-all-"));
  const fuseOk = process.getuid?.() === 0 && existsSync("/dev/fuse");
  const results: Result[] = [];
  try {
    for (const b of BENCHES) {
      if (only && !b.rows.some((id) => only.has(id))) continue;
      const loadAt = load();
      if (b.fuse && !fuseOk) {
        for (const id of b.rows) {
          const row = ROWS.find((r) => r.id === id);
          if (row) results.push(judge(row, undefined, loadAt, "skipped: needs root and /dev/fuse"));
        }
        continue;
      }
      console.log(`\n=== ${b.script} ${b.args.join(" ")} (load ${loadAt})`);
      const t0 = performance.now();
      const { figures, error } = await runBench(b, join(tmp, `${b.script}.jsonl`));
      console.log(
        `=== ${b.script}: ${((performance.now() - t0) / 1000).toFixed(0)} s${error ? `, ${error}` : ""}`,
      );
      for (const id of b.rows) {
        const row = ROWS.find((r) => r.id === id);
        if (!row) continue;
        const f = figures.find((x) => x.id === id);
        results.push(
          judge(row, f, loadAt, f ? null : error ? `failed: ${error}` : "no peer in this bench yet"),
        );
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  results.sort((a, b) => ROWS.findIndex((r) => r.id === a.id) - ROWS.findIndex((r) => r.id === b.id));
  const endLoad = load();
  console.log(`\nflox beside its peers, same run (load ${startLoad} at the start, ${endLoad} at the end):`);
  printTable(results);
  // A partial run (--only) does not replace the full table.
  const file = join(projectRoot, "bench", only ? "results-only.json" : "results.json");
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        startedAt: started.toISOString(),
        finishedAt: new Date().toISOString(),
        mode: quick ? "quick" : "full",
        cores: cpus().length,
        loadAtStart: Number(startLoad),
        loadAtEnd: Number(endLoad),
        rows: results,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwritten to ${file}`);
}

await main();
