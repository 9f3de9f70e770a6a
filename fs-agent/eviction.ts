// When the store cache evicts and what goes first: the quota's watermarks and least-recently-used order, as
// numbers in and answers out, so that the policy is tested without FUSE, a server or a disk.

/** The quota and its watermarks: background eviction starts above high × quota and stops at low × quota. */
export class EvictionPolicy {
  constructor(
    readonly quotaBytes: number,
    readonly high = 0.9,
    readonly low = 0.7,
  ) {}

  /** After a path was admitted with `used` bytes cached: should background eviction start? */
  shouldCollect(used: number): boolean {
    return used > this.high * this.quotaBytes;
  }

  /** Where background eviction stops: the low watermark. */
  get collectGoal(): number {
    return this.low * this.quotaBytes;
  }

  /**
   * Before a fetch of `size` bytes while `reserved` bytes are being fetched: undefined when it fits the quota,
   * else how far eviction must bring the cache down first.
   */
  roomGoal(used: number, reserved: number, size: number): number | undefined {
    if (used + reserved + size <= this.quotaBytes) return undefined;
    return Math.min(this.low * this.quotaBytes, Math.max(0, this.quotaBytes - size - reserved));
  }

  /** After eviction for a fetch: it may go ahead (over the quota by at most its own path) only when the rest fits. */
  fitsAfterEviction(used: number, reserved: number): boolean {
    return used + reserved <= this.quotaBytes;
  }
}

/** The keys by last access, oldest first: the order eviction considers them in. */
export function leastRecentlyUsed<K>(entries: Iterable<readonly [K, { lastAccess: number }]>): K[] {
  return [...entries].sort((a, b) => a[1].lastAccess - b[1].lastAccess).map(([k]) => k);
}
