// Private-cache read decisions, remembered for a moment, so the raw-HTTP fast path (cache-fast-path.ts) answers a
// client's next narinfo or NAR without a token lookup. Only "yes" is remembered, only after auth.ts said it, and
// for GRANT_MS: a revoked token (here or on another server of a fleet sharing the database) stops reading within that.
import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";

/** Long enough that a busy client's lookups skip the database, short enough that a revocation soon counts. */
export const GRANT_MS = 2000;
const GRANT_ENTRIES = 10_000;

export class ReadGrants {
  /** Keyed by a hash of the whole Authorization header: the secret itself is never kept. */
  private readonly granted: LRUCache<string, true>;

  constructor(ttlMs = GRANT_MS) {
    this.granted = new LRUCache<string, true>({ max: GRANT_ENTRIES, ttl: ttlMs });
  }

  /** auth.ts's cacheReader, once this header was found to carry a live token (or the server's hook secret). */
  grant(authorization: string): void {
    this.granted.set(keyOf(authorization), true);
  }

  /** False says "not known": the request goes the full way, where a missing or refused token gets its 401. */
  allows(authorization: string | undefined): boolean {
    return authorization !== undefined && this.granted.get(keyOf(authorization)) === true;
  }
}

function keyOf(authorization: string): string {
  return createHash("sha256").update(authorization).digest("base64url");
}
