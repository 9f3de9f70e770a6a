// The local store cache: CACHE_DIR/store/<hash>-<name> are unpacked, verified store paths, and
// CACHE_DIR/files/<sha256>[.x] single files of big paths fetched by Range (content-addressed, so one file
// shared by several paths is kept once); the index (cache-index.ts) remembers both across restarts (cache-disk.ts
// reconciles them after a crash). One fetch (path-fetch.ts) per path however many callers ask at once;
// narinfos and listings come from path-meta.ts;
// eviction (eviction.ts: LRU by last access, high/low watermarks) runs in the background and never removes a
// pinned path (pin-set.ts), a path in use (open files, an op in flight) or one being fetched.
import { randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { removeReadOnlyTree } from "../lib/nar-unpack.js";
import { type NarInfo, parseNarInfo, serializeNarInfo } from "../lib/narinfo.js";
import { emptyTrash, FILE_KEY, reconcileWithDisk } from "./cache-disk.js";
import { type CacheFigures, inFlightFetches } from "./cache-figures.js";
import { CacheIndex } from "./cache-index.js";
import { EvictionPolicy, leastRecentlyUsed } from "./eviction.js";
import { OffThread } from "./off-thread.js";
import { type FetchContext, type FetchProgress, fetchFileTo, fetchPathTo } from "./path-fetch.js";
import { type ListedFile, NotInStorehouseError, type PathMeta, PathMetaLookup } from "./path-meta.js";
import { PinSet } from "./pin-set.js";
import type { CacheRemote } from "./remote.js";

/** Admitting the path would pass the quota and nothing can be evicted (all pinned or in use): ENOSPC. */
export class CacheFullError extends Error {
  override name = "CacheFullError";
}

export interface StoreCacheOptions {
  dir: string;
  remote: CacheRemote;
  /** Quota in bytes (NAR sizes, close to what the unpacked files take). */
  quotaBytes: number;
  /** Background eviction starts above high × quota and stops at low × quota (defaults 0.9 and 0.7). */
  highWatermark?: number;
  lowWatermark?: number;
  /** How often access times go to the index (default 5 s). */
  flushMs?: number;
}

interface Entry {
  narSize: number;
  info: NarInfo;
  lastAccess: number;
}

export class StoreCache {
  readonly storeDir: string;
  readonly filesDir: string;
  readonly #trashDir: string;
  readonly #index: CacheIndex;
  readonly #meta: PathMetaLookup;
  readonly #fetchContext: FetchContext;
  readonly #policy: EvictionPolicy;
  readonly #paths = new Map<string, Entry>();
  readonly #fetching = new Map<string, Promise<string>>();
  readonly #evicting = new Map<string, Promise<void>>();
  readonly #holds = new Map<string, number>();
  readonly #pins = new PinSet();
  readonly #dirtyAccess = new Map<string, number>();
  readonly #progress = new Map<string, FetchProgress>();
  readonly #flushTimer: NodeJS.Timeout;
  readonly #offThread = new OffThread();
  #used = 0;
  #reserved = 0;
  #gcRunning: Promise<void> | undefined;
  #counts = { fetches: 0, fileFetches: 0, evictions: 0, refused: 0 };

  private constructor(opts: StoreCacheOptions, index: CacheIndex) {
    this.storeDir = join(opts.dir, "store");
    this.filesDir = join(opts.dir, "files");
    this.#trashDir = join(opts.dir, "trash");
    this.#index = index;
    this.#meta = new PathMetaLookup(opts.remote, (basename) => this.#paths.get(basename)?.info);
    this.#fetchContext = {
      remote: opts.remote,
      offThread: this.#offThread,
      refused: () => {
        this.#counts.refused++;
      },
    };
    this.#policy = new EvictionPolicy(opts.quotaBytes, opts.highWatermark, opts.lowWatermark);
    this.#flushTimer = setInterval(() => this.flushAccessTimes(), opts.flushMs ?? 5000).unref();
  }

  /** Opens (or creates) the cache in `opts.dir`, reconciling the index with the disk after a crash. */
  static async open(opts: StoreCacheOptions, index?: CacheIndex): Promise<StoreCache> {
    await mkdir(join(opts.dir, "store"), { recursive: true });
    await mkdir(join(opts.dir, "trash"), { recursive: true });
    await mkdir(join(opts.dir, "files"), { recursive: true });
    const c = new StoreCache(opts, index ?? new CacheIndex(join(opts.dir, "index.sqlite")));
    await c.#reconcile();
    c.#offThread.start();
    return c;
  }

  get index(): CacheIndex {
    return this.#index;
  }

  async #reconcile(): Promise<void> {
    await reconcileWithDisk(this.#index, this.storeDir, this.filesDir, (b, row) => {
      this.#paths.set(b, {
        narSize: row.narSize,
        info: parseNarInfo(row.narinfo),
        lastAccess: row.lastAccess,
      });
      this.#used += row.narSize;
    });
    for (const { basename, reason } of this.#index.pins()) this.#pins.add([basename], reason);
    void emptyTrash(this.#trashDir);
  }

  localPath(basename: string): string {
    return basename.startsWith(FILE_KEY)
      ? join(this.filesDir, basename.slice(FILE_KEY.length))
      : join(this.storeDir, basename);
  }

  has(basename: string): boolean {
    return this.#paths.has(basename);
  }

  /** The basenames held locally (what listing the mount root shows). */
  list(): string[] {
    return [...this.#paths.keys()].filter((k) => !k.startsWith(FILE_KEY));
  }

  /**
   * The narinfo and signed listing of a path (remembered: both are immutable), so that lookups, stats,
   * directory listings and symlinks are answered before any byte of the path is fetched.
   */
  meta(basename: string): Promise<PathMeta> {
    return this.#meta.meta(basename);
  }

  /** Is any pin on the path (a pinned path is fetched whole, for offline use)? */
  pinned(basename: string): boolean {
    return this.#pins.has(basename);
  }

  /** The key a single file is kept under while open (hold()/release() take it like a basename). */
  fileKey(file: ListedFile): string {
    return `${FILE_KEY}${file.sha256}${file.executable ? ".x" : ""}`;
  }

  /**
   * One file of `info`'s (uncompressed) NAR, fetched by Range on first use and checked against the
   * listing's sha256; its local copy. Take hold(fileKey(file)) first, as for ensure().
   */
  ensureFile(info: NarInfo, file: ListedFile, label: string): Promise<string> {
    const key = this.fileKey(file);
    return this.#ensureKey(key, () => this.#fetchFile(key, info, file, label));
  }

  /** The local copy of `key` (a path or a file), fetched by `fetch` first when needed: once, however many ask. */
  async #ensureKey(key: string, fetch: () => Promise<string>): Promise<string> {
    const entry = this.#paths.get(key);
    if (entry) {
      this.#touch(key, entry);
      return this.localPath(key);
    }
    let p = this.#fetching.get(key);
    if (!p) {
      p = fetch().finally(() => this.#fetching.delete(key));
      this.#fetching.set(key, p);
    }
    return p;
  }

  /** A verified fetch of `size` bytes renamed into place: indexed, counted, and GC woken above the watermark. */
  #admit(key: string, size: number, info: NarInfo): void {
    const now = Date.now();
    this.#index.insert({ basename: key, narSize: size, narinfo: serializeNarInfo(info), lastAccess: now });
    this.#paths.set(key, { narSize: size, info, lastAccess: now });
    this.#used += size;
    if (this.#policy.shouldCollect(this.#used)) void this.gc();
  }

  async #fetchFile(key: string, info: NarInfo, file: ListedFile, label: string): Promise<string> {
    await this.#evicting.get(key);
    await this.#makeRoom(file.size);
    this.#reserved += file.size;
    const target = this.localPath(key);
    const tmp = join(this.filesDir, `.tmp-${randomBytes(6).toString("hex")}`);
    const progress = { path: label, total: file.size, done: 0, started: Date.now() };
    this.#progress.set(key, progress);
    try {
      await fetchFileTo(this.#fetchContext, info, file, label, tmp, target, progress);
    } finally {
      this.#reserved -= file.size;
      this.#progress.delete(key);
    }
    this.#counts.fileFetches++;
    this.#admit(key, file.size, info);
    return target;
  }

  /** The verified narinfo of a path (local first, then the server); undefined when the Storehouse lacks it. */
  info(basename: string): Promise<NarInfo | undefined> {
    return this.#meta.info(basename);
  }

  /** Marks a path in use: eviction skips it until release(). Take it before ensure(). */
  hold(basename: string): void {
    this.#holds.set(basename, (this.#holds.get(basename) ?? 0) + 1);
  }

  release(basename: string): void {
    const n = (this.#holds.get(basename) ?? 1) - 1;
    if (n <= 0) this.#holds.delete(basename);
    else this.#holds.set(basename, n);
  }

  /** The local directory of a store path, fetching it first when needed (once, however many ask). */
  ensure(basename: string): Promise<string> {
    return this.#ensureKey(basename, () => this.#fetch(basename));
  }

  #touch(basename: string, entry: Entry): void {
    const now = Date.now();
    // Access times matter to the second for LRU; skip the map write for hot paths.
    if (now - entry.lastAccess < 1000) return;
    entry.lastAccess = now;
    this.#dirtyAccess.set(basename, now);
  }

  flushAccessTimes(): void {
    if (this.#dirtyAccess.size === 0) return;
    const batch = [...this.#dirtyAccess];
    this.#dirtyAccess.clear();
    this.#index.touchMany(batch);
  }

  async #fetch(basename: string): Promise<string> {
    await this.#evicting.get(basename);
    const info = await this.info(basename);
    if (!info) throw new NotInStorehouseError(`/nix/store/${basename} is not in the Storehouse`);
    await this.#makeRoom(info.narSize);
    this.#reserved += info.narSize;
    const target = this.localPath(basename);
    const tmp = join(this.storeDir, `.tmp-${randomBytes(6).toString("hex")}-${basename}`);
    const progress = {
      path: info.storePath,
      total: info.fileSize ?? info.narSize,
      done: 0,
      started: Date.now(),
    };
    this.#progress.set(basename, progress);
    try {
      await fetchPathTo(this.#fetchContext, info, tmp, target, progress);
    } finally {
      this.#reserved -= info.narSize;
      this.#progress.delete(basename);
    }
    this.#meta.forgetInfo(basename);
    this.#counts.fetches++;
    this.#admit(basename, info.narSize, info);
    return target;
  }

  /** Before a fetch: evict until the cache plus what is being fetched fits the quota, or refuse. */
  async #makeRoom(size: number): Promise<void> {
    const goal = this.#policy.roomGoal(this.#used, this.#reserved, size);
    if (goal === undefined) return;
    await this.gc(goal);
    if (!this.#policy.fitsAfterEviction(this.#used, this.#reserved)) {
      throw new CacheFullError(
        `the cache is full (${this.#used} of ${this.#policy.quotaBytes} bytes) and everything in it is pinned or in use`,
      );
    }
  }

  /** Evicts least recently used paths that are not pinned or in use until `target` bytes (default low watermark). */
  gc(target?: number): Promise<void> {
    const run = async () => {
      const goal = target ?? this.#policy.collectGoal;
      if (this.#used <= goal) return;
      this.flushAccessTimes();
      for (const b of leastRecentlyUsed(this.#paths)) {
        if (this.#used <= goal) break;
        // Checked at each step: a path may be taken into use while an earlier one is being evicted.
        if (this.#pins.has(b) || this.#holds.has(b) || this.#fetching.has(b)) continue;
        await this.#evict(b);
      }
    };
    const prev = this.#gcRunning ?? Promise.resolve();
    const next = prev.then(run, run).finally(() => {
      if (this.#gcRunning === next) this.#gcRunning = undefined;
    });
    this.#gcRunning = next;
    return next;
  }

  async #evict(basename: string): Promise<void> {
    const entry = this.#paths.get(basename);
    if (!entry) return;
    // From here a lookup waits for the eviction to finish, then fetches the path again.
    this.#paths.delete(basename);
    this.#used -= entry.narSize;
    this.#counts.evictions++;
    const done = (async () => {
      const trash = join(this.#trashDir, `${randomBytes(6).toString("hex")}-${basename}`);
      const local = this.localPath(basename);
      // A read-only directory moves to another parent only with write permission on it (its `..`).
      if ((await lstat(local)).isDirectory()) await chmod(local, 0o755);
      await rename(local, trash);
      this.#index.remove(basename);
      void removeReadOnlyTree(trash).catch(() => {});
    })().finally(() => this.#evicting.delete(basename));
    this.#evicting.set(basename, done);
    await done;
  }

  /**
   * Pins store paths (full paths or basenames) under `reason` (e.g. `profile:acme/dev@12`, `download`):
   * fetches them now and keeps them out of eviction until unpin(reason). Profile sync and `flox download`
   * call this with a generation's closure (see closure()).
   */
  async pin(storePaths: readonly string[], reason: string, opts: { fetch?: boolean } = {}): Promise<void> {
    const names = storePaths.map((p) => p.replace(/^\/nix\/store\//, ""));
    // Pinned first, so nothing fetched for this pin is evicted before the last one arrives.
    this.#index.pin(names, reason);
    this.#pins.add(names, reason);
    // fetch: false (profile sync): kept once fetched, but fetched only when touched (or downloaded).
    if (opts.fetch === false) return;
    for (const b of names) await this.ensure(b);
  }

  /** The pin reasons in force (e.g. `profile:acme/dev@12`, `download:acme/dev`). */
  pinReasons(): string[] {
    return this.#pins.reasons();
  }

  /** The paths pinned by `reason` (held or not). */
  pinnedBy(reason: string): string[] {
    return this.#pins.pinnedBy(reason);
  }

  /** Bytes of `basename`'s NAR file fetched so far: all of it when cached, part when in flight, else 0. */
  fetchedBytes(basename: string): number {
    const entry = this.#paths.get(basename);
    if (entry) return entry.info.fileSize ?? entry.narSize;
    return this.#progress.get(basename)?.done ?? 0;
  }

  unpin(reason: string, storePaths?: readonly string[]): void {
    const names = storePaths?.map((p) => p.replace(/^\/nix\/store\//, ""));
    this.#index.unpin(reason, names);
    this.#pins.remove(reason, names);
  }

  /** The closure of `roots` (basenames), read from narinfos: what pin() takes for a whole generation. */
  closure(roots: readonly string[]): Promise<string[]> {
    return this.#meta.closure(roots);
  }

  figures(): CacheFigures {
    const paths = this.list().length;
    return {
      quotaBytes: this.#policy.quotaBytes,
      usedBytes: this.#used,
      paths,
      files: this.#paths.size - paths,
      pinnedPaths: this.#pins.count(this.#paths.keys()),
      inUsePaths: this.#holds.size,
      fetching: [...this.#fetching.keys()],
      inFlight: inFlightFetches(this.#progress.values()),
      ...this.#counts,
    };
  }

  async close(): Promise<void> {
    clearInterval(this.#flushTimer);
    await this.#gcRunning;
    await this.#offThread.close();
    this.flushAccessTimes();
    this.#index.close();
  }
}
