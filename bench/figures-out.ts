// Lets each bench hand its headline figures to `npm run bench` (bench/all.ts) beside what it prints: one JSON line
// per figure, appended to the file named by FLOX_BENCH_OUT. Outside `npm run bench` it does nothing.
import { appendFileSync } from "node:fs";

/** One headline figure and its peer from the same run; bench/all.ts holds the goal for each `id`. */
export interface BenchFigure {
  /** Matches a row of bench/all.ts's goal table. */
  id: string;
  unit: "ms" | "req/s" | "MiB/s";
  ours: number;
  peer: number;
  /** What the peer is, e.g. "nginx, same bytes". */
  peerLabel: string;
  /** How the figure was taken, e.g. "median of 3". */
  how: string;
}

export function emitFigures(figures: BenchFigure[]): void {
  const out = process.env.FLOX_BENCH_OUT;
  if (!out) return;
  for (const f of figures) appendFileSync(out, `${JSON.stringify(f)}\n`);
}
