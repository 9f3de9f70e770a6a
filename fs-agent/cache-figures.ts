// What the store cache reports of itself (agent status, `flox download` progress): its figures and the
// fetches in flight with their rates.
import type { FetchProgress } from "./path-fetch.js";

export interface CacheFigures {
  quotaBytes: number;
  usedBytes: number;
  paths: number;
  /** Single files of big paths, fetched by Range. */
  files: number;
  pinnedPaths: number;
  inUsePaths: number;
  fetching: string[];
  /** The fetches in flight: bytes of the NAR file (as sent, compressed) done of total, and the rate so far. */
  inFlight: InFlightFetch[];
  fetches: number;
  fileFetches: number;
  evictions: number;
  refused: number;
}

export interface InFlightFetch {
  path: string;
  bytesDone: number;
  bytesTotal: number;
  /** Bytes per second since the fetch started. */
  rate: number;
  startedAt: number;
}

/** The fetches in flight as reported, with the rate since each started. */
export function inFlightFetches(progress: Iterable<FetchProgress>): InFlightFetch[] {
  return [...progress].map((p) => {
    const secs = Math.max((Date.now() - p.started) / 1000, 0.001);
    return {
      path: p.path,
      bytesDone: p.done,
      bytesTotal: p.total,
      rate: Math.round(p.done / secs),
      startedAt: p.started,
    };
  });
}
