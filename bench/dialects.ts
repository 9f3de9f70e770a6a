// The PostgreSQL-vs-SQLite benches run their measured part once per dialect, each in its own process (a process
// binds its tables to one dialect, server/db/tables.ts), on a temp SQLite file and a throwaway PostgreSQL
// (testing/postgres.ts) started for the run, and print both sides' figures beside each other.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { startPostgres } from "../testing/postgres.js";

export type DialectName = "sqlite" | "postgres";

/** In a side's process: the database URL it measures against; undefined in the parent. */
export function sideDatabase(): string | undefined {
  return process.env.FLOX_BENCH_DATABASE;
}

/** A side's figures, handed to the parent as the last line of its stdout. */
export function reportSide(figures: Record<string, number>): void {
  process.stdout.write(`FIGURES ${JSON.stringify(figures)}\n`);
}

export const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

/**
 * Runs `script` (this bench's compiled file) with `args` once on SQLite and once on PostgreSQL; a side's own
 * output passes through. Answers each side's figures.
 */
export async function runBothDialects(
  script: string,
  args: string[],
): Promise<Record<DialectName, Record<string, number>>> {
  const tmp = mkdtempSync(join(tmpdir(), "flox-bench-db-"));
  const pg = await startPostgres();
  try {
    const urls: Record<DialectName, string> = {
      sqlite: `sqlite:${join(tmp, "db.sqlite")}`,
      postgres: pg.createDatabase("bench"),
    };
    const out = {} as Record<DialectName, Record<string, number>>;
    for (const side of ["sqlite", "postgres"] as const) {
      console.log(`--- ${side} (load ${load()})`);
      const r = spawnSync(process.execPath, [script, ...args], {
        env: { ...process.env, FLOX_BENCH_DATABASE: urls[side] },
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
        maxBuffer: 64 * 1024 * 1024,
      });
      const lines = r.stdout.trimEnd().split("\n");
      const last = lines.pop() ?? "";
      if (lines.length > 0) console.log(lines.join("\n"));
      if (r.status !== 0 || !last.startsWith("FIGURES ")) {
        throw new Error(`the ${side} side failed (exit ${r.status}): ${last}`);
      }
      out[side] = JSON.parse(last.slice("FIGURES ".length)) as Record<string, number>;
    }
    return out;
  } finally {
    pg.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** One figure of both sides on one line, with PostgreSQL's ratio to SQLite. */
export function printBeside(
  label: string,
  both: Record<DialectName, Record<string, number>>,
  key: string,
  unit: string,
): void {
  const s = both.sqlite[key] ?? Number.NaN;
  const p = both.postgres[key] ?? Number.NaN;
  const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
  console.log(
    `${label.padEnd(46)} PostgreSQL ${fmt(p).padStart(8)} ${unit}   SQLite ${fmt(s).padStart(8)} ${unit}   (PostgreSQL/SQLite ×${(p / s).toFixed(2)})`,
  );
}

/** The median of `xs`. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}
