// What the HTTP serving benches share: wrk on loopback, the median of rounds, a free port.
import { createServer } from "node:net";
import { loadavg } from "node:os";
import { execa } from "execa";

export interface WrkFigure {
  reqPerSec: number;
  mibPerSec: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** `connections` connections for `seconds` against one URL; any non-2xx answer fails the run. */
export async function wrk(url: string, connections: number, seconds: number): Promise<WrkFigure> {
  const threads = Math.min(2, connections);
  const r = await execa("wrk", ["-t", String(threads), "-c", String(connections), "-d", `${seconds}s`, url]);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(r.stdout);
  if (non2xx) throw new Error(`${url} answered ${non2xx[1]} errors under wrk:\n${r.stdout}`);
  const req = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? Number.NaN);
  const m = /Transfer\/sec:\s+([\d.]+)(\w+)/.exec(r.stdout);
  const unit: Record<string, number> = { B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024 };
  const mib = m ? Number(m[1]) * (unit[m[2] ?? "MB"] ?? 1) : Number.NaN;
  return { reqPerSec: req, mibPerSec: mib };
}

/** The 1, 5 and 15-minute load averages, for the line every bench prints first. */
export const loadAverages = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");
