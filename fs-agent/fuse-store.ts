// The FUSE side: a read-only /nix/store whose top-level names are store paths. Every op is async (libuv
// thread pool for file I/O, zlib streams for NARs): a blocked JS thread would block every filesystem call.
import { close, constants, open as fsOpen, read as fsRead, type Stats } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import Fuse, { type FuseOps, type FuseStat } from "fuse-native";
import { BadStorePathError, parseStorePathBasename } from "../lib/store-path.js";
import { ServerUnavailableError, UntrustedPathError } from "./remote.js";
import { CacheFullError, NotInStorehouseError, type StoreCache } from "./store-cache.js";

export interface MountOptions {
  /** Kernel entry/attr cache for names that exist, seconds (store paths are immutable). Default 86400. */
  positiveTimeout?: number;
  /** Kernel cache of missing names, seconds. libfuse 2.9's high-level API has one value for the whole
   *  mount; it is the staleness accepted for a path pushed after a miss. Default 30. */
  negativeTimeout?: number;
  /** Per-op timeout in ms (fuse-native answers ETIMEDOUT after it). Default 120000, for big fetches. */
  opTimeoutMs?: number;
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
}

const ROOT_STAT: FuseStat = { mode: constants.S_IFDIR | 0o555, nlink: 2, size: 0, uid: 0, gid: 0 };
const EPOCH = new Date(1000); // store paths have mtime 1, as Nix leaves them
const MISS_LIMIT = 100_000;

function toFuseStat(st: Stats): FuseStat {
  return {
    mode: st.mode,
    uid: 0,
    gid: 0,
    size: st.size,
    nlink: st.nlink,
    blksize: 4096,
    blocks: st.blocks,
    mtime: EPOCH,
    atime: EPOCH,
    ctime: EPOCH,
  };
}

/** `/<basename>/rest` → [basename, "rest"] (rest "" for the store path itself); undefined for a bad name. */
function split(path: string): [string, string] | undefined {
  const slash = path.indexOf("/", 1);
  const basename = slash < 0 ? path.slice(1) : path.slice(1, slash);
  try {
    parseStorePathBasename(basename);
  } catch (err) {
    if (err instanceof BadStorePathError) return undefined;
    throw err;
  }
  return [basename, slash < 0 ? "" : path.slice(slash + 1)];
}

export function errnoOf(err: unknown): number {
  if (err instanceof NotInStorehouseError) return Fuse.ENOENT;
  if (err instanceof CacheFullError) return Fuse.ENOSPC;
  if (err instanceof ServerUnavailableError || err instanceof UntrustedPathError) return Fuse.EIO;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === "ENOENT") return Fuse.ENOENT;
  if (code === "ENOTDIR") return Fuse.ENOTDIR;
  return Fuse.EIO;
}

export class FuseStore {
  readonly counters: OpCounters = {
    getattr: 0,
    readdir: 0,
    open: 0,
    read: 0,
    readlink: 0,
    topLevelLookups: 0,
  };
  /** Paths inside store paths known to be missing: immutable, so cached for good. */
  readonly #misses = new Set<string>();
  readonly #openPaths = new Map<number, string>();
  readonly #fuse: Fuse;
  readonly #log: (msg: string) => void;

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

  mount(): Promise<void> {
    return new Promise((resolve, reject) => this.#fuse.mount((err) => (err ? reject(err) : resolve())));
  }

  unmount(): Promise<void> {
    return new Promise((resolve, reject) => this.#fuse.unmount((err) => (err ? reject(err) : resolve())));
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
        this.#local(path, (local) => lstat(local)).then(
          (st) => cb(0, toFuseStat(st)),
          (err) => {
            const errno = fail("getattr", path, err);
            // A miss inside a store path we hold is for good; a top-level miss is left to negative_timeout.
            if (errno === Fuse.ENOENT && parts[1] !== "" && cache.has(parts[0])) {
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
        this.#local(path, (local) => readdir(local)).then(
          (names) => cb(0, names),
          (err) => cb(fail("readdir", path, err)),
        );
      },
      readlink: (path, cb) => {
        this.counters.readlink++;
        this.#local(path, (local) => readlink(local)).then(
          (target) => cb(0, target),
          (err) => cb(fail("readlink", path, err)),
        );
      },
      open: (path, flags, cb) => {
        this.counters.open++;
        if ((flags & 3) !== constants.O_RDONLY) return cb(Fuse.EROFS);
        const parts = split(path);
        if (!parts) return cb(Fuse.ENOENT);
        // Held until release: a path with open files is never evicted.
        cache.hold(parts[0]);
        cache.ensure(parts[0]).then(
          (dir) =>
            fsOpen(
              parts[1] ? join(dir, parts[1]) : dir,
              constants.O_RDONLY | constants.O_NOFOLLOW,
              (err, fd) => {
                if (err) {
                  cache.release(parts[0]);
                  return cb(fail("open", path, err));
                }
                this.#openPaths.set(fd, parts[0]);
                cb(0, fd);
              },
            ),
          (err) => {
            cache.release(parts[0]);
            cb(fail("open", path, err));
          },
        );
      },
      read: (_path, fd, buf, len, pos, cb) => {
        this.counters.read++;
        fsRead(fd, buf, 0, len, pos, (err, n) => cb(err ? Fuse.EIO : n));
      },
      release: (_path, fd, cb) => {
        const basename = this.#openPaths.get(fd);
        this.#openPaths.delete(fd);
        close(fd, () => {
          if (basename) cache.release(basename);
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
