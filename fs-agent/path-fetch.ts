// The byte side of the store cache: one path's NAR or one file of it from the server, verified, into a
// temporary name and renamed into place; the cache around it does the single-flight, room and accounting.
import { createHash } from "node:crypto";
import { chmod, rename, rm, writeFile } from "node:fs/promises";
import { parseNixHash } from "../lib/hash.js";
import { DECODABLE_COMPRESSIONS } from "../lib/nar-compression.js";
import { removeReadOnlyTree } from "../lib/nar-unpack.js";
import type { NarInfo } from "../lib/narinfo.js";
import { encodeNix32 } from "../lib/nix32.js";
import type { OffThread } from "./off-thread.js";
import type { ListedFile } from "./path-meta.js";
import { type CacheRemote, UntrustedPathError } from "./remote.js";

/** A fetch in flight as the figures show it; `done` counts the NAR file's bytes as sent (compressed). */
export interface FetchProgress {
  path: string;
  total: number;
  done: number;
  started: number;
}

/** Where a fetch gets its bytes and does its heavy work; `refused` counts bytes the server got wrong. */
export interface FetchContext {
  remote: CacheRemote;
  offThread: OffThread;
  refused: () => void;
}

const EMPTY_SHA256 = encodeNix32(createHash("sha256").digest());

/** One file of `info`'s (uncompressed) NAR by Range, checked against the listing's sha256, renamed to `target`. */
export async function fetchFileTo(
  c: FetchContext,
  info: NarInfo,
  file: ListedFile,
  label: string,
  tmp: string,
  target: string,
  progress: FetchProgress,
): Promise<void> {
  try {
    let got = { sha256: EMPTY_SHA256, size: 0 };
    if (file.size === 0) await writeFile(tmp, "", { flag: "wx" });
    else {
      const body = await c.remote.narRange(info, file.narOffset, file.size);
      body.on("data", (chunk: Buffer) => {
        progress.done += chunk.length;
      });
      got = await c.offThread.writeFile(body, tmp);
    }
    if (got.size !== file.size || got.sha256 !== file.sha256) {
      c.refused();
      throw new UntrustedPathError(
        `${label}: the bytes from the server are refused (sha256 ${got.sha256}, ${got.size} bytes; the signed listing says ${file.sha256}, ${file.size})`,
      );
    }
    await chmod(tmp, file.executable ? 0o555 : 0o444);
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
}

/** A whole store path: its NAR decompressed, checked against the narinfo and unpacked, renamed to `target`. */
export async function fetchPathTo(
  c: FetchContext,
  info: NarInfo,
  tmp: string,
  target: string,
  progress: FetchProgress,
): Promise<void> {
  try {
    if (!DECODABLE_COMPRESSIONS.has(info.compression)) {
      throw new UntrustedPathError(
        `Compression: ${info.compression} is not supported by the agent (none, br, gzip)`,
      );
    }
    const body = await c.remote.nar(info);
    body.on("data", (chunk: Buffer) => {
      progress.done += chunk.length;
    });
    // Decompressing, hashing and unpacking happen on the worker thread; this one only moves bytes.
    await c.offThread.unpack(body, {
      compression: info.compression,
      target: tmp,
      narHash: parseNixHash(info.narHash, "sha256").digest,
      narSize: info.narSize,
    });
    await rename(tmp, target);
  } catch (err) {
    await removeReadOnlyTree(tmp).catch(() => {});
    if (err instanceof Error && /NarMismatch|NarFormat/.test(err.name)) {
      c.refused();
      throw new UntrustedPathError(`${info.storePath}: the NAR from the server is refused: ${err.message}`);
    }
    throw err;
  }
}
