// The Storehouse's paths as a graph: loaded once per GC run, closures followed over the narinfos' References.
import { gte, or } from "drizzle-orm";
import type { Db } from "../../db/open.js";
import { cachePaths } from "../../db/tables.js";

/** What GC needs of each accepted path. */
export interface IndexedPath {
  hash: string;
  storePath: string;
  narFile: string;
  fileSize: number;
  /** Hash parts of the referenced paths (self-references included). */
  refs: string[];
  createdAt: string;
  lastAccessedAt: string | null;
}

export type PathIndex = Map<string, IndexedPath>;

/** The 32-character hash part of `/nix/store/<hash>-<name>` or of a basename; undefined for anything else. */
export function hashPart(pathOrBase: string): string | undefined {
  const base = pathOrBase.slice(pathOrBase.lastIndexOf("/") + 1);
  return /^[0-9a-df-np-sv-z]{32}-/.test(base) ? base.slice(0, 32) : undefined;
}

function toIndexed(r: typeof cachePaths.$inferSelect): IndexedPath {
  return {
    hash: r.hash,
    storePath: r.storePath,
    narFile: r.narFile,
    fileSize: r.fileSize,
    refs: r.references.map((ref) => ref.slice(0, 32)),
    createdAt: r.createdAt,
    lastAccessedAt: r.lastAccessedAt,
  };
}

export async function loadIndex(db: Db): Promise<PathIndex> {
  const rows = await db.select().from(cachePaths);
  return new Map(rows.map((r) => [r.hash, toIndexed(r)]));
}

/** Rows accepted, or last accessed (as flushed), at or after `since`: what GC must not take in this run. */
export async function pathsTouchedSince(db: Db, since: string): Promise<IndexedPath[]> {
  const rows = await db
    .select()
    .from(cachePaths)
    .where(or(gte(cachePaths.createdAt, since), gte(cachePaths.lastAccessedAt, since)));
  return rows.map(toIndexed);
}

/**
 * Adds the closure of `start` (hashes) to `into`: every path reachable over references. A reference the index
 * lacks is skipped (it was never uploaded, or is gone): the walk stays within what the Storehouse holds.
 */
export function addClosure(index: PathIndex, start: Iterable<string>, into: Set<string>): Set<string> {
  const stack: string[] = [];
  for (const h of start) {
    if (!into.has(h) && index.has(h)) {
      into.add(h);
      stack.push(h);
    }
  }
  while (stack.length > 0) {
    const p = index.get(stack.pop() as string);
    if (!p) continue;
    for (const r of p.refs) {
      if (into.has(r) || !index.has(r)) continue;
      into.add(r);
      stack.push(r);
    }
  }
  return into;
}
