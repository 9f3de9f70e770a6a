// The metadata side of the store cache: narinfos and signed listings, remembered apart from the bytes so
// the mount answers lookups, stats and directory listings before (or without) fetching a path.
import { LRUCache } from "lru-cache";
import type { NarListing, NarListingNode } from "../lib/nar-listing.js";
import type { NarInfo } from "../lib/narinfo.js";
import { parseStorePathBasename } from "../lib/store-path.js";
import type { CacheRemote } from "./remote.js";

/** The Storehouse has no such path (a 404 narinfo): ENOENT. */
export class NotInStorehouseError extends Error {
  override name = "NotInStorehouseError";
}

/** A regular file of a listing that carries its sha256: what can be fetched alone by Range. */
export type ListedFile = Extract<NarListingNode, { type: "regular" }> & { sha256: string };

/** What the agent knows of a path before (or without) its bytes: the signed narinfo and listing. */
export interface PathMeta {
  info: NarInfo;
  /** Undefined when the server has no signed listing for it (then metadata needs the NAR). */
  listing: NarListing | undefined;
}

const NARINFO_MEMO_LIMIT = 10_000;
const LISTING_MEMO_LIMIT = 2_000;

export class PathMetaLookup {
  readonly #remote: CacheRemote;
  /** The narinfo of a path held locally, which needs no asking. */
  readonly #local: (basename: string) => NarInfo | undefined;
  readonly #infos = new Map<string, Promise<NarInfo | undefined>>();
  readonly #metas = new LRUCache<string, Promise<PathMeta>>({ max: LISTING_MEMO_LIMIT });

  constructor(remote: CacheRemote, local: (basename: string) => NarInfo | undefined) {
    this.#remote = remote;
    this.#local = local;
  }

  /**
   * The narinfo and signed listing of a path (remembered: both are immutable), so that lookups, stats,
   * directory listings and symlinks are answered before any byte of the path is fetched.
   */
  meta(basename: string): Promise<PathMeta> {
    const memo = this.#metas.get(basename);
    if (memo) return memo;
    const p = (async () => {
      const info = await this.info(basename);
      if (!info) throw new NotInStorehouseError(`/nix/store/${basename} is not in the Storehouse`);
      return { info, listing: await this.#remote.listing(info) };
    })();
    this.#metas.set(basename, p);
    p.catch(() => this.#metas.delete(basename));
    return p;
  }

  /** The verified narinfo of a path (local first, then the server); undefined when the Storehouse lacks it. */
  info(basename: string): Promise<NarInfo | undefined> {
    const local = this.#local(basename);
    if (local) return Promise.resolve(local);
    const memo = this.#infos.get(basename);
    if (memo) return memo;
    const { hash } = parseStorePathBasename(basename);
    const p = this.#remote.narInfo(hash).then((info) => {
      if (info && info.storePath !== `/nix/store/${basename}`) return undefined; // same hash, other name
      return info;
    });
    if (this.#infos.size >= NARINFO_MEMO_LIMIT) this.#infos.clear();
    this.#infos.set(basename, p);
    // Only answers are remembered: a server that was away is asked again next time, and misses are the
    // kernel's negative cache's business (the store is append-only, so a miss may appear later).
    p.then(
      (info) => {
        if (!info) this.#infos.delete(basename);
      },
      () => this.#infos.delete(basename),
    );
    return p;
  }

  /** Drops the remembered narinfo of a path now held locally (the local copy answers from here on). */
  forgetInfo(basename: string): void {
    this.#infos.delete(basename);
  }

  /** The closure of `roots` (basenames), read from narinfos: what pin() takes for a whole generation. */
  async closure(roots: readonly string[]): Promise<string[]> {
    const seen = new Set<string>();
    const todo = roots.map((p) => p.replace(/^\/nix\/store\//, ""));
    while (todo.length > 0) {
      const b = todo.pop() as string;
      if (seen.has(b)) continue;
      seen.add(b);
      const info = await this.info(b);
      if (!info) throw new NotInStorehouseError(`/nix/store/${b} is not in the Storehouse`);
      for (const r of info.references) if (!seen.has(r)) todo.push(r);
    }
    return [...seen].sort();
  }
}
