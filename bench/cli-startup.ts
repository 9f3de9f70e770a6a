// How long `flox --version` takes to start, beside Node's floor (`node -e 0`) and `git --version`.
// Uses hyperfine when installed, else times 20 spawns of each. Prints figures; asserts nothing.
// Run after a build: `npx tsc -p tsconfig.json && node dist/bench/cli-startup.js`.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { projectRoot } from "../lib/project-root.js";

interface Figure {
  name: string;
  meanMs: number;
  minMs: number;
  runs: number;
}

const node = process.execPath;
const commands: { name: string; argv: string[] }[] = [
  { name: "flox --version", argv: [node, join(projectRoot, "cli", "bin", "flox"), "--version"] },
  { name: "node -e 0", argv: [node, "-e", "0"] },
  { name: "git --version", argv: ["git", "--version"] },
];

function haveHyperfine(): boolean {
  return spawnSync("hyperfine", ["--version"], { stdio: "ignore" }).status === 0;
}

// Paths here contain no spaces or quotes; hyperfine takes each command as one string.
function withHyperfine(): Figure[] {
  const dir = mkdtempSync(join(tmpdir(), "flox-bench-"));
  try {
    const out = join(dir, "results.json");
    const args = ["--warmup", "3", "--shell=none", "--style", "basic", "--export-json", out];
    for (const c of commands) args.push("--command-name", c.name, c.argv.join(" "));
    const run = spawnSync("hyperfine", args, { stdio: ["ignore", "inherit", "inherit"] });
    if (run.status !== 0) throw new Error(`hyperfine failed with status ${run.status}`);
    const results = (
      JSON.parse(readFileSync(out, "utf8")) as {
        results: { command: string; mean: number; min: number; times: number[] }[];
      }
    ).results;
    return results.map((r) => ({
      name: r.command,
      meanMs: r.mean * 1000,
      minMs: r.min * 1000,
      runs: r.times.length,
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function withLoop(runs = 20): Figure[] {
  return commands.map(({ name, argv }) => {
    const [cmd, ...args] = argv as [string, ...string[]];
    spawnSync(cmd, args, { stdio: "ignore" }); // warm the page cache
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const start = process.hrtime.bigint();
      const r = spawnSync(cmd, args, { stdio: "ignore" });
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
      if (r.status !== 0) throw new Error(`${name} exited with status ${r.status}`);
    }
    return { name, meanMs: times.reduce((a, b) => a + b, 0) / runs, minMs: Math.min(...times), runs };
  });
}

const tool = haveHyperfine() ? "hyperfine" : "a loop of spawns";
const figures = tool === "hyperfine" ? withHyperfine() : withLoop();
const floor = figures.find((f) => f.name === "node -e 0")?.meanMs ?? Number.NaN;

process.stdout.write(`\nCLI start-up (${tool})\n`);
const rows = [
  ["command", "mean ms", "min ms", "over node", "runs"],
  ...figures.map((f) => [
    f.name,
    f.meanMs.toFixed(1),
    f.minMs.toFixed(1),
    f.name === "node -e 0" ? "" : `${f.meanMs - floor >= 0 ? "+" : ""}${(f.meanMs - floor).toFixed(1)}`,
    String(f.runs),
  ]),
];
const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
for (const r of rows) {
  process.stdout.write(
    `${r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ")}\n`,
  );
}
