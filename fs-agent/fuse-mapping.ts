// How the store maps onto FUSE: a path split into its store path and the rest, the stat of a node (from a
// signed listing or the unpacked tree) and the errno each of the agent's errors becomes.
import { constants, type Stats } from "node:fs";
import Fuse, { type FuseStat } from "fuse-native";
import type { NarListingNode } from "../lib/nar-listing.js";
import { BadStorePathError, parseStorePathBasename } from "../lib/store-path.js";
import { NotInStorehouseError } from "./path-meta.js";
import { ServerUnavailableError, UntrustedPathError } from "./remote.js";
import { CacheFullError } from "./store-cache.js";

export const ROOT_STAT: FuseStat = { mode: constants.S_IFDIR | 0o555, nlink: 2, size: 0, uid: 0, gid: 0 };
const EPOCH = new Date(1000); // store paths have mtime 1, as Nix leaves them

/** A name the signed listing of its (existing) store path does not have: missing for good. */
export class NotInListingError extends Error {
  override name = "NotInListingError";
  readonly code = "ENOENT";
}

/** The stat Nix's unpacked tree would give, from a listing node (modes as Nix leaves them). */
export function listedStat(node: NarListingNode): FuseStat {
  const base = { uid: 0, gid: 0, blksize: 4096, mtime: EPOCH, atime: EPOCH, ctime: EPOCH };
  switch (node.type) {
    case "regular":
      return {
        ...base,
        mode: constants.S_IFREG | (node.executable ? 0o555 : 0o444),
        size: node.size,
        nlink: 1,
        blocks: Math.ceil(node.size / 512),
      };
    case "symlink": {
      const size = Buffer.byteLength(node.target);
      return { ...base, mode: constants.S_IFLNK | 0o777, size, nlink: 1, blocks: 0 };
    }
    case "directory": {
      // find(1) trusts nlink - 2 as the count of subdirectories: it must be right.
      let subdirs = 0;
      for (const child of Object.values(node.entries)) if (child.type === "directory") subdirs++;
      return { ...base, mode: constants.S_IFDIR | 0o555, size: 4096, nlink: 2 + subdirs, blocks: 8 };
    }
  }
}

export function toFuseStat(st: Stats): FuseStat {
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
export function split(path: string): [string, string] | undefined {
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
  if (code === "EINVAL") return Fuse.EINVAL;
  if (code === "EISDIR") return Fuse.EISDIR;
  return Fuse.EIO;
}
