// The Storehouse in its object store and in the db: NARs, narinfos and listings in the store `--nar-store` names
// (DATA_DIR/store by default), indexed by `cache_paths`. A path becomes visible only after its NAR, hashes, sizes
// and references were checked: its row, written last, is what makes it exist for readers.
import { eq, inArray } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Db } from "../db/open.js";
import { first } from "../db/raw.js";
import { cachePaths } from "../db/tables.js";
import { KeyedMutex } from "../git/keyed-mutex.js";
import { type PutResult, putListing, putNar, putNarInfo, type UploadAdmission } from "./accept.js";
import { AccessTracker } from "./gc/access.js";
import { GcGate } from "./gc/gate.js";
import type { SigningKey } from "./keys.js";
import { narinfoKey } from "./layout.js";
import { getText, type ObjectStore } from "./objects/object-store.js";
import { orphanNars, type SweepResult, sweepOrphans } from "./orphans.js";
import { type QuarantinedNar, verifyNars } from "./quarantine.js";
import type { Body } from "./receive.js";
import { strongEtag } from "./serve-file.js";

export type { PutResult } from "./accept.js";
export type { SweepResult } from "./orphans.js";
export type { QuarantinedNar } from "./quarantine.js";

export const DEFAULT_LIMITS = {
  /** Real narinfos are a few hundred bytes; thousands of references still fit. */
  narinfo: 1024 * 1024,
  listing: 64 * 1024 * 1024,
  nar: 64 * 1024 * 1024 * 1024,
};

export type StorehouseLimits = typeof DEFAULT_LIMITS;

export interface StorehouseOptions {
  db: Db;
  /** Where the bytes go (objects/open.ts): DATA_DIR/store, or a bucket shared by every server of a fleet. */
  objects: ObjectStore;
  key: SigningKey;
  limits?: Partial<StorehouseLimits>;
}

export type CachePathRow = typeof cachePaths.$inferSelect;

/** An accepted narinfo as it is answered by the raw-HTTP fast path (cache-fast-path.ts). */
export interface CachedNarInfo {
  text: string;
  /** Its length in bytes (UTF-8), for Content-Length. */
  length: number;
  /** Quoted strong ETag (serve-file.ts strongEtag), the same the hono route gives. */
  etag: string;
}

/** About 10 MB of narinfos at ~1 KiB each. */
const NARINFO_CACHE_ENTRIES = 10_000;

export class Storehouse {
  readonly objects: ObjectStore;
  readonly limits: StorehouseLimits;
  /** These three are for the Storehouse's own modules (accept.ts, orphans.ts, quarantine.ts), not its users. */
  readonly db: Db;
  readonly key: SigningKey;
  readonly locks = new KeyedMutex();
  /** Held shared by narinfo acceptance, alone by each GC batch (gc/gate.ts). */
  readonly gate = new GcGate();
  /** Narinfo reads, batched into `cache_paths.last_accessed_at` (gc/access.ts). */
  readonly access = new AccessTracker();
  /** Quota and org attribution of uploads (gc/quota.ts), set by the server; none: every upload is admitted. */
  admission: UploadAdmission | undefined;
  /**
   * Accepted narinfos, newest use last. A narinfo never changes once accepted, so a copy in memory is always
   * right; only hits are kept (a miss may be uploaded a moment later). Reading the file was most of a narinfo
   * request's cost (bench/storehouse-vs-nginx.ts).
   */
  private readonly narinfoCache = new LRUCache<string, CachedNarInfo>({ max: NARINFO_CACHE_ENTRIES });
  /** Bumped by each quarantine: a narinfo read that started before one is answered but not cached. */
  private removals = 0;

  private constructor(opts: StorehouseOptions) {
    this.db = opts.db;
    this.key = opts.key;
    this.objects = opts.objects;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
  }

  /**
   * tmp/ is not cleared here: other servers may share the store and be uploading into it. The orphan sweep takes
   * what is left there once it is older than its grace.
   */
  static async open(opts: StorehouseOptions): Promise<Storehouse> {
    return new Storehouse(opts);
  }

  get publicKey(): string {
    return this.key.publicKey;
  }

  async findPath(hash: string): Promise<CachePathRow | undefined> {
    return await this.db.select().from(cachePaths).where(eq(cachePaths.hash, hash)).then(first);
  }

  /** Which of `hashes` the Storehouse holds: one query for a whole closure instead of one per path. */
  async presentHashes(hashes: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    // Chunks well under both dialects' bound-parameter limits.
    for (let i = 0; i < hashes.length; i += 500) {
      const rows = await this.db
        .select({ hash: cachePaths.hash })
        .from(cachePaths)
        .where(inArray(cachePaths.hash, hashes.slice(i, i + 500)));
      for (const r of rows) found.add(r.hash);
    }
    return found;
  }

  /**
   * The signed narinfo text, or undefined when the path is not in the Storehouse. The row is asked first: most
   * lookups Nix makes are misses, and a miss must not cost a round trip to a bucket.
   */
  async narInfoText(hash: string): Promise<string | undefined> {
    const cached = this.cachedNarInfo(hash);
    if (cached !== undefined) return cached.text;
    const removals = this.removals;
    if (!(await this.findPath(hash))) return undefined;
    const text = await getText(this.objects, narinfoKey(hash));
    if (text === undefined) return undefined;
    this.access.touch(hash);
    if (removals !== this.removals) return text;
    this.narinfoCache.set(hash, { text, length: Buffer.byteLength(text), etag: strongEtag(text) });
    return text;
  }

  /** The narinfo when it is in memory (counted as a read for GC); undefined says only "ask narInfoText". */
  cachedNarInfo(hash: string): CachedNarInfo | undefined {
    const cached = this.narinfoCache.get(hash);
    if (cached !== undefined) this.access.touch(hash);
    return cached;
  }

  /**
   * Takes the narinfo out of the Storehouse and out of memory. The counter is bumped before and after: no read that
   * overlapped the removal can put the narinfo back in the cache.
   */
  async removeNarinfo(hash: string): Promise<void> {
    this.removals++;
    await this.objects.delete(narinfoKey(hash));
    this.removals++;
    this.narinfoCache.delete(hash);
  }

  /** accept.ts */
  async putNar(name: string, body: Body): Promise<PutResult> {
    return putNar(this, name, body);
  }

  async putListing(hash: string, body: Body): Promise<PutResult> {
    return putListing(this, hash, body);
  }

  async putNarInfo(hash: string, body: Body): Promise<PutResult> {
    return putNarInfo(this, hash, body);
  }

  /** orphans.ts */
  orphanNars(): Promise<string[]> {
    return orphanNars(this);
  }

  sweepOrphans(graceMs: number): Promise<SweepResult> {
    return sweepOrphans(this, graceMs);
  }

  /** quarantine.ts */
  verifyNars(budgetBytes: number): Promise<{ checked: number; quarantined: QuarantinedNar[] }> {
    return verifyNars(this, budgetBytes);
  }
}
