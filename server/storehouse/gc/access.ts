// Per-path last access without a write per GET: narinfo reads are noted in memory and written in one batch.
import { inArray } from "drizzle-orm";
import type { Db } from "../../db/open.js";
import { cachePaths } from "../../db/tables.js";

const CHUNK = 500;

export class AccessTracker {
  /** hash → when it was last asked for (ms), since the last flush. */
  readonly #pending = new Map<string, number>();
  /** Off only to measure what tracking costs (bench/storehouse-gc.ts). */
  enabled = true;

  touch(hash: string): void {
    if (this.enabled) this.#pending.set(hash, Date.now());
  }

  /** Paths asked for at or after `ms` and not flushed yet (GC checks the flushed ones in the database). */
  touchedSince(ms: number): string[] {
    const out: string[] = [];
    for (const [h, at] of this.#pending) if (at >= ms) out.push(h);
    return out;
  }

  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Writes every pending access as the flush time (one UPDATE per 500 paths): later than each access, so "accessed
   * since T" stays true, and a path's order among the least recently used is right to the flush interval.
   */
  async flush(db: Db): Promise<number> {
    if (this.#pending.size === 0) return 0;
    // Kept in memory until written, so GC never looks between the two and misses an access.
    const taken = [...this.#pending];
    const hashes = taken.map(([h]) => h);
    const at = new Date().toISOString();
    for (let i = 0; i < hashes.length; i += CHUNK) {
      await db
        .update(cachePaths)
        .set({ lastAccessedAt: at })
        .where(inArray(cachePaths.hash, hashes.slice(i, i + CHUNK)));
    }
    for (const [h, ms] of taken) if (this.#pending.get(h) === ms) this.#pending.delete(h);
    return hashes.length;
  }
}
