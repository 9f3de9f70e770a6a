// The FUSE side: a read-only /nix/store whose top-level names are store paths. Every op is async (libuv
// thread pool for file I/O, zlib streams for NARs): a blocked JS thread would block every filesystem call.
// A path not held locally is answered from its signed listing (lookups, stats, directory listings,
// symlinks): its bytes are fetched only when a file is opened — the whole NAR for small paths, the one
// file by Range for big uncompressed ones.
import { close, constants, open as fsOpen, read as fsRead } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import Fuse, { type FuseOps } from "fuse-native";
import { listingNodeAt, type NarListingNode } from "../lib/nar-listing.js";
import { errnoOf, listedStat, NotInListingError, ROOT_STAT, split, toFuseStat } from "./fuse-mapping.js";
import { clearStaleMount, unmountBounded } from "./mount-point.js";
import type { ListedFile } from "./path-meta.js";
import type { StoreCache } from "./store-cache.js";

export interface MountOptions {
  /** Kernel entry/attr cache for names that exist, seconds (store paths are immutable). Default 86400. */
  positiveTimeout?: number;
  /** Kernel cache of missing names, seconds. libfuse 2.9's high-level API has one value for the whole
   *  mount; it is the staleness accepted for a path pushed after a miss. Default 30. */
  negativeTimeout?: number;
  /** Per-op timeout in ms (fuse-native answers ETIMEDOUT after it). Default 120000, for big fetches. */
  opTimeoutMs?: number;
  /** Paths whose NAR is at least this many bytes (and uncompressed on the server) are fetched file by
   *  file when opened; smaller ones whole, in one request. Default 8 MiB. */
  fileFetchFrom?: number;
  /** Leave all kernel caching options out (the untuned baseline of the benchmarks). */
  untuned?: boolean;
  /** Let other users use the mount (default: true when running as root). */
  allowOther?: boolean;
}

export interface OpCounters {
  getattr: number;
  readdir: number;
  open: number;
  read: number;
  readlink: number;
  /** getattr of a top-level name the agent had not got locally. */
  topLevelLookups: number;
  /** Ops answered from a signed listing, with no byte of the path fetched. */
  listed: number;
}

const MISS_LIMIT = 100_000;

/**
 * fuse-native's unmount runs `fusermount -uz` unbounded and only then lets go of its native handle; the agent
 * unmounts on its own terms (mount-point.ts) and lets go of the handle itself, so the event loop can end.
 */
const require = createRequire(import.meta.url);
const nativeBinding = createRequire(require.resolve("fuse-native"))("node-gyp-build")(
  dirname(require.resolve("fuse-native")),
) as { fuse_native_unmount(mnt: string, thread: Buffer): void };

export class FuseStore {
  readonly counters: OpCounters = {
    getattr: 0,
    readdir: 0,
    open: 0,
    read: 0,
    readlink: 0,
    topLevelLookups: 0,
    listed: 0,
  };
  /** Paths inside store paths known to be missing: immutable, so cached for good. */
  readonly #misses = new Set<string>();
  readonly #openPaths = new Map<number, string>();
  readonly #fuse: Fuse;
  readonly #log: (msg: string) => void;
  #mounted = false;

  constructor(
    readonly mountPoint: string,
    readonly cache: StoreCache,
    readonly opts: MountOptions = {},
    log: (msg: string) => void = () => {},
  ) {
    this.#log = log;
    const options = this.#rawOptions();
    // fuse-native's options object has no ro/negative_timeout: pass them raw (../shared/NIX-PROTOCOLS.md).
    class StoreFuse extends Fuse {
      protected override _fuseOptions(): string {
        return `-o${options}`;
      }
    }
    this.#fuse = new StoreFuse(mountPoint, this.#ops(), {
      timeout: opts.opTimeoutMs ?? 120_000,
      force: true,
      mkdir: true,
    });
  }

  #rawOptions(): string {
    const o = ["ro", "fsname=flox", "subtype=flox", "default_permissions"];
    if (this.opts.allowOther ?? process.getuid?.() === 0) o.push("allow_other");
    if (this.opts.untuned) return o.join(",");
    const pos = this.opts.positiveTimeout ?? 86_400;
    o.push(
      `entry_timeout=${pos}`,
      `attr_timeout=${pos}`,
      `negative_timeout=${this.opts.negativeTimeout ?? 30}`,
    );
    o.push("kernel_cache");
    return o.join(",");
  }

  /** Mounts, first clearing a stale mount a dead agent left at the mount point (with a log line). */
  async mount(): Promise<void> {
    await clearStaleMount(this.mountPoint, this.#log);
    await new Promise<void>((resolve, reject) => this.#fuse.mount((err) => (err ? reject(err) : resolve())));
    this.#mounted = true;
  }

  /**
   * Takes the mount away in bounded time: plainly, or lazily when a FUSE call, a fetch or an open file still
   * holds it (then the kernel lets go once the last user does). Also a mount someone already took away
   * (`umount -l`) is fine: there is nothing left to do but say so.
   */
  async unmount(): Promise<"unmounted" | "unmounted lazily" | "already unmounted"> {
    const how = await unmountBounded(this.mountPoint);
    if (this.#mounted) {
      this.#mounted = false;
      nativeBinding.fuse_native_unmount(this.mountPoint, this.#fuse._thread);
    }
    return how;
  }

  /** Runs `fn` on the local file of `path` with the store path held (not evictable) meanwhile. */
  async #local<T>(path: string, fn: (local: string) => Promise<T>): Promise<T> {
    const parts = split(path);
    if (!parts) throw Object.assign(new Error("not a store path name"), { code: "ENOENT" });
    const [basename, rest] = parts;
    this.cache.hold(basename);
    try {
      const dir = await this.cache.ensure(basename);
      return await fn(rest ? join(dir, rest) : dir);
    } finally {
      this.cache.release(basename);
    }
  }

  /**
   * Answers a metadata op: from the local copy when the path is held here, else from its signed listing
   * (no byte fetched), else — a path with no signed listing — by fetching it whole.
   */
  async #meta<T>(
    path: string,
    [basename, rest]: [string, string],
    fromListing: (node: NarListingNode) => T,
    fromLocal: (local: string) => Promise<T>,
  ): Promise<T> {
    if (!this.cache.has(basename)) {
      const { listing } = await this.cache.meta(basename);
      if (listing) {
        const node = listingNodeAt(listing, rest);
        if (!node) throw new NotInListingError(`${path} is not in its store path`);
        this.counters.listed++;
        return fromListing(node);
      }
    }
    return this.#local(path, fromLocal);
  }

  /** Opens a file read-only, fetching it (or its whole path) first; the fd is held until release. */
  async #open(path: string, [basename, rest]: [string, string]): Promise<number> {
    let key = basename;
    let local: string | undefined;
    if (!this.cache.has(basename)) {
      const { info, listing } = await this.cache.meta(basename);
      const node = listing && listingNodeAt(listing, rest);
      if (listing && !node) throw new NotInListingError(`${path} is not in its store path`);
      if (node?.type === "directory") throw Object.assign(new Error("a directory"), { code: "EISDIR" });
      // Big uncompressed paths one file at a time; a pinned path is wanted whole (offline use).
      if (
        node?.type === "regular" &&
        node.sha256 !== undefined &&
        info.compression === "none" &&
        info.narSize >= (this.opts.fileFetchFrom ?? 8 * 1024 * 1024) &&
        !this.cache.pinned(basename)
      ) {
        const file = node as ListedFile;
        key = this.cache.fileKey(file);
        this.cache.hold(key);
        try {
          local = await this.cache.ensureFile(
            info,
            file,
            rest ? `${info.storePath}/${rest}` : info.storePath,
          );
        } catch (err) {
          this.cache.release(key);
          throw err;
        }
      }
    }
    if (local === undefined) {
      this.cache.hold(basename);
      try {
        const dir = await this.cache.ensure(basename);
        local = rest ? join(dir, rest) : dir;
      } catch (err) {
        this.cache.release(basename);
        throw err;
      }
    }
    const target = local;
    return new Promise<number>((resolve, reject) =>
      fsOpen(target, constants.O_RDONLY | constants.O_NOFOLLOW, (err, fd) => {
        if (err) {
          this.cache.release(key);
          return reject(err);
        }
        // Held until release: a path (or file) with open files is never evicted.
        this.#openPaths.set(fd, key);
        resolve(fd);
      }),
    );
  }

  #ops(): FuseOps {
    const cache = this.cache;
    const fail = (op: string, path: string, err: unknown): number => {
      const errno = errnoOf(err);
      if (errno === Fuse.EIO || errno === Fuse.ENOSPC) this.#log(`${op} ${path}: ${(err as Error).message}`);
      return errno;
    };
    return {
      init: (cb) => cb(0),
      getattr: (path, cb) => {
        this.counters.getattr++;
        if (path === "/") return cb(0, ROOT_STAT);
        if (this.#misses.has(path)) return cb(Fuse.ENOENT);
        const parts = split(path);
        if (!parts) return cb(Fuse.ENOENT);
        if (!cache.has(parts[0])) this.counters.topLevelLookups++;
        this.#meta(path, parts, listedStat, async (local) => toFuseStat(await lstat(local))).then(
          (st) => cb(0, st),
          (err) => {
            const errno = fail("getattr", path, err);
            // A miss inside a store path that exists is for good; a top-level miss is left to negative_timeout.
            if (
              errno === Fuse.ENOENT &&
              parts[1] !== "" &&
              (err instanceof NotInListingError || cache.has(parts[0]))
            ) {
              if (this.#misses.size >= MISS_LIMIT) this.#misses.clear();
              this.#misses.add(path);
            }
            cb(errno);
          },
        );
      },
      readdir: (path, cb) => {
        this.counters.readdir++;
        // The root shows what is cached here, never the whole Storehouse.
        if (path === "/") return cb(0, cache.list());
        const parts = split(path);
        if (!parts) return cb(Fuse.ENOENT);
        this.#meta(
          path,
          parts,
          (node) => {
            if (node.type !== "directory")
              throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
            return Object.keys(node.entries);
          },
          (local) => readdir(local),
        ).then(
          (names) => cb(0, names),
          (err) => cb(fail("readdir", path, err)),
        );
      },
      readlink: (path, cb) => {
        this.counters.readlink++;
        const parts = split(path);
        if (!parts) return cb(Fuse.ENOENT);
        this.#meta(
          path,
          parts,
          (node) => {
            if (node.type !== "symlink") throw Object.assign(new Error("not a symlink"), { code: "EINVAL" });
            return node.target;
          },
          (local) => readlink(local),
        ).then(
          (target) => cb(0, target),
          (err) => cb(fail("readlink", path, err)),
        );
      },
      open: (path, flags, cb) => {
        this.counters.open++;
        if ((flags & 3) !== constants.O_RDONLY) return cb(Fuse.EROFS);
        const parts = split(path);
        if (!parts) return cb(Fuse.ENOENT);
        this.#open(path, parts).then(
          (fd) => cb(0, fd),
          (err) => cb(fail("open", path, err)),
        );
      },
      read: (_path, fd, buf, len, pos, cb) => {
        this.counters.read++;
        fsRead(fd, buf, 0, len, pos, (err, n) => cb(err ? Fuse.EIO : n));
      },
      release: (_path, fd, cb) => {
        const key = this.#openPaths.get(fd);
        this.#openPaths.delete(fd);
        close(fd, () => {
          if (key) cache.release(key);
          cb(0);
        });
      },
      statfs: (_path, cb) => {
        const f = cache.figures();
        const blocks = Math.ceil(f.quotaBytes / 4096);
        const used = Math.ceil(f.usedBytes / 4096);
        cb(0, {
          bsize: 4096,
          frsize: 4096,
          blocks,
          bfree: Math.max(0, blocks - used),
          bavail: Math.max(0, blocks - used),
          files: f.paths,
          ffree: 0,
          favail: 0,
          fsid: 0,
          flag: 1, // ST_RDONLY
          namemax: 255,
        });
      },
    };
  }
}
