// What a collection takes, decided without I/O: the unreachable paths, least recently used first, cut to a target
// or an org, then ordered so that a path always goes before the paths it references.
import type { IndexedPath, PathIndex } from "./closure.js";

export interface PlanOptions {
  /** Stop once the Storehouse's NAR bytes would be at or under this; null: take every unreachable path. */
  targetBytes: number | null;
  /** Only paths uploaded for these orgs (`flox gc --org`); null: all. */
  onlyHashes: Set<string> | null;
}

export interface Plan {
  /** In deletion order: referrers before what they reference. */
  paths: IndexedPath[];
  bytes: number;
  totalBytes: number;
  unreachable: number;
}

const lastUse = (p: IndexedPath) => p.lastAccessedAt ?? p.createdAt;

/** Who references each path (among `among`), for walking the graph upwards. */
function referrers(among: Iterable<IndexedPath>): Map<string, string[]> {
  const up = new Map<string, string[]>();
  for (const p of among) {
    for (const r of p.refs) {
      if (r === p.hash) continue;
      const list = up.get(r);
      if (list) list.push(p.hash);
      else up.set(r, [p.hash]);
    }
  }
  return up;
}

export function planCollection(index: PathIndex, live: Set<string>, opts: PlanOptions): Plan {
  let totalBytes = 0;
  const unreachable: IndexedPath[] = [];
  for (const p of index.values()) {
    totalBytes += p.fileSize;
    if (!live.has(p.hash)) unreachable.push(p);
  }
  // Unreachable paths are closed upwards (a referrer of one is unreachable too): the referrer map stays within them.
  const up = referrers(unreachable);
  let chosen = new Set<string>();
  if (opts.onlyHashes) {
    // An org's paths go only with every referrer: a path another org's unreachable path references stays.
    for (const p of unreachable) if (opts.onlyHashes.has(p.hash)) chosen.add(p.hash);
    let changed = true;
    while (changed) {
      changed = false;
      for (const h of chosen) {
        if ((up.get(h) ?? []).some((r) => !chosen.has(r))) {
          chosen.delete(h);
          changed = true;
        }
      }
    }
  } else chosen = new Set(unreachable.map((p) => p.hash));

  if (opts.targetBytes !== null) {
    // Least recently used first; taking a path takes its referrers with it, so no kept path loses a reference.
    const order = unreachable
      .filter((p) => chosen.has(p.hash))
      .sort((a, b) => lastUse(a).localeCompare(lastUse(b)));
    const taken = new Set<string>();
    let left = totalBytes;
    for (const p of order) {
      if (left <= opts.targetBytes) break;
      const stack = [p.hash];
      while (stack.length > 0) {
        const h = stack.pop() as string;
        if (taken.has(h)) continue;
        taken.add(h);
        left -= index.get(h)?.fileSize ?? 0;
        for (const r of up.get(h) ?? []) if (!taken.has(r)) stack.push(r);
      }
    }
    chosen = taken;
  }
  const paths = topological(index, chosen, up);
  return {
    paths,
    bytes: paths.reduce((n, p) => n + p.fileSize, 0),
    totalBytes,
    unreachable: unreachable.length,
  };
}

/** Referrers first (Kahn's algorithm over `chosen`), least recently used first among the ready ones. */
function topological(index: PathIndex, chosen: Set<string>, up: Map<string, string[]>): IndexedPath[] {
  const waiting = new Map<string, number>();
  for (const h of chosen) waiting.set(h, (up.get(h) ?? []).filter((r) => chosen.has(r)).length);
  const ready = [...chosen].filter((h) => waiting.get(h) === 0).map((h) => index.get(h) as IndexedPath);
  ready.sort((a, b) => lastUse(b).localeCompare(lastUse(a)));
  const out: IndexedPath[] = [];
  while (ready.length > 0) {
    const p = ready.pop() as IndexedPath;
    out.push(p);
    for (const r of p.refs) {
      if (r === p.hash || !chosen.has(r)) continue;
      const n = (waiting.get(r) ?? 1) - 1;
      waiting.set(r, n);
      if (n === 0) ready.push(index.get(r) as IndexedPath);
    }
  }
  return out;
}
