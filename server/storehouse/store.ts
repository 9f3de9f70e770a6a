// The Storehouse on disk and in the db: NARs and narinfos under DATA_DIR/store/, indexed by `cache_paths`.
// A narinfo becomes visible only after its NAR, hashes, sizes and references were checked: it is written to
// tmp/ and renamed into place as the last step, so a reader never sees half of one.
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import type { Db } from "../db/open.js";
import { cachePaths } from "../db/schema.js";
import { KeyedMutex } from "../git/keyed-mutex.js";
import { type PutResult, putListing, putNar, putNarInfo, type UploadAdmission } from "./accept.js";
import { AccessTracker } from "./gc/access.js";
import { GcGate } from "./gc/gate.js";
import type { SigningKey } from "./keys.js";
import { orphanNars, sweepOrphans } from "./orphans.js";
import { type QuarantinedNar, verifyNars } from "./quarantine.js";
import type { Body } from "./receive.js";

export type { PutResult } from "./accept.js";
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
  /** DATA_DIR/store */
  dir: string;
  key: SigningKey;
  limits?: Partial<StorehouseLimits>;
}

export type CachePathRow = typeof cachePaths.$inferSelect;

/** About 10 MB of narinfos at ~1 KiB each. */
const NARINFO_CACHE_ENTRIES = 10_000;

export class Storehouse {
  readonly narDir: string;
  readonly narinfoDir: string;
  readonly lsDir: string;
  readonly tmpDir: string;
  /** NAR files that stopped hashing to their name, kept for a person to look at; never served. */
  readonly quarantineDir: string;
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
  private readonly narinfoCache = new LRUCache<string, string>({ max: NARINFO_CACHE_ENTRIES });
  /** Bumped by each quarantine: a narinfo read that started before one is answered but not cached. */
  private removals = 0;

  private constructor(opts: StorehouseOptions) {
    this.db = opts.db;
    this.key = opts.key;
    this.narDir = join(opts.dir, "nar");
    this.narinfoDir = join(opts.dir, "narinfo");
    this.lsDir = join(opts.dir, "ls");
    this.tmpDir = join(opts.dir, "tmp");
    this.quarantineDir = join(opts.dir, "quarantine");
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
  }

  /** Creates the folders and clears tmp/: no upload survives a restart, so anything there is debris. */
  static async open(opts: StorehouseOptions): Promise<Storehouse> {
    const s = new Storehouse(opts);
    for (const d of [s.narDir, s.narinfoDir, s.lsDir, s.tmpDir]) await mkdir(d, { recursive: true });
    for (const f of await readdir(s.tmpDir)) await rm(join(s.tmpDir, f), { recursive: true, force: true });
    return s;
  }

  get publicKey(): string {
    return this.key.publicKey;
  }

  /** Names must be validated first (names.ts); these only join. */
  narPath(name: string): string {
    return join(this.narDir, name);
  }

  narinfoPath(hash: string): string {
    return join(this.narinfoDir, `${hash}.narinfo`);
  }

  listingPath(hash: string): string {
    return join(this.lsDir, `${hash}.ls`);
  }

  /** The server's signature of the listing (lib/signature.ts listingFingerprint); absent for older paths. */
  listingSigPath(hash: string): string {
    return join(this.lsDir, `${hash}.ls.sig`);
  }

  findPath(hash: string): CachePathRow | undefined {
    return this.db.select().from(cachePaths).where(eq(cachePaths.hash, hash)).get();
  }

  /** The signed narinfo text, or undefined when the path is not in the Storehouse. */
  async narInfoText(hash: string): Promise<string | undefined> {
    const cached = this.narinfoCache.get(hash);
    if (cached !== undefined) {
      this.access.touch(hash);
      return cached;
    }
    let text: string;
    const removals = this.removals;
    try {
      text = await readFile(this.narinfoPath(hash), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    this.access.touch(hash);
    if (removals !== this.removals) return text;
    this.narinfoCache.set(hash, text);
    return text;
  }

  /**
   * Takes the narinfo out of the Storehouse and out of memory. The counter is bumped before and after: no read that
   * overlapped the removal can put the narinfo back in the cache.
   */
  async removeNarinfo(hash: string): Promise<void> {
    this.removals++;
    await rm(this.narinfoPath(hash), { force: true });
    this.removals++;
    this.narinfoCache.delete(hash);
  }

  /** accept.ts */
  putNar(name: string, body: Body): Promise<PutResult> {
    return putNar(this, name, body);
  }

  putListing(hash: string, body: Body): Promise<PutResult> {
    return putListing(this, hash, body);
  }

  putNarInfo(hash: string, body: Body): Promise<PutResult> {
    return putNarInfo(this, hash, body);
  }

  /** orphans.ts */
  orphanNars(): Promise<string[]> {
    return orphanNars(this);
  }

  sweepOrphans(graceMs: number): Promise<{ nars: string[]; tmp: string[] }> {
    return sweepOrphans(this, graceMs);
  }

  /** quarantine.ts */
  verifyNars(budgetBytes: number): Promise<{ checked: number; quarantined: QuarantinedNar[] }> {
    return verifyNars(this, budgetBytes);
  }
}
