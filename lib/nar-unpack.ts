import { constants, writeSync } from "node:fs";
import {
  chmod,
  type FileHandle,
  lstat,
  mkdir,
  open,
  readdir,
  rmdir,
  symlink,
  unlink,
} from "node:fs/promises";
import { resolve } from "node:path";
import {
  type NarDigest,
  type NarPath,
  type NarReaderOptions,
  type NarSource,
  readNar,
} from "./nar-reader.js";

/** The NAR was well-formed but is not the one that was announced (NarHash/NarSize of a narinfo). */
export class NarMismatchError extends Error {
  override name = "NarMismatchError";
  constructor(
    readonly field: "narHash" | "narSize",
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`NAR ${field} mismatch: expected ${expected}, got ${actual}`);
  }
}

export interface UnpackOptions extends NarReaderOptions {
  /** Fail (and remove the target) unless the NAR has exactly this hash and/or size. */
  expect?: Partial<NarDigest>;
  /**
   * true (default): the modes of a store path once Nix has registered it — files 0444, or 0555
   * when executable, directories 0555 (set as each directory is finished). false: 0644/0755 and
   * 0755, what `nix-store --restore` leaves under umask 022. Modes are set with chmod, so the
   * umask does not matter.
   */
  readOnly?: boolean;
  /**
   * "async" (default): each chunk through the libuv thread pool, so the calling thread stays free.
   * "sync": writeSync, for a worker thread whose only job is unpacking: a chunk then costs one syscall
   * instead of a round trip through the pool (measured in bench/README.md, the agent's whole-NAR fetch).
   */
  writes?: "async" | "sync";
}

const SLASH = Buffer.from("/");

/**
 * Remove a tree that may contain read-only directories (an unpacked store path) without
 * following symlinks. Names are handled as raw bytes. A missing path is not an error.
 */
export async function removeReadOnlyTree(path: string | Buffer): Promise<void> {
  const p = typeof path === "string" ? Buffer.from(path) : path;
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  if (!st.isDirectory()) return unlink(p);
  await chmod(p, 0o700);
  for (const name of await readdir(p, { encoding: "buffer" })) {
    await removeReadOnlyTree(Buffer.concat([p, SLASH, name]));
  }
  await rmdir(p);
}

function writeAllSync(fh: FileHandle, chunk: Buffer): void {
  let off = 0;
  while (off < chunk.length) off += writeSync(fh.fd, chunk, off, chunk.length - off);
}

async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
    off += bytesWritten;
  }
}

/**
 * Restore the NAR read from `source` at `targetDir`, which must not exist (its parent must):
 * the root node becomes `targetDir` itself, be it a directory, a file or a symlink.
 *
 * Safety rests on the reader's guarantees (names are single, unique, sorted path components;
 * symlinks have no children): every path written is `targetDir` plus components this call
 * created as directories, and each node is created exclusively (mkdir, O_CREAT|O_EXCL|O_NOFOLLOW,
 * symlink — all fail on anything already there), so no symlink is ever followed and nothing
 * lands outside `targetDir`. Symlink targets are stored verbatim, never resolved. This assumes
 * no other process writes into `targetDir` meanwhile: unpack inside a private temp directory.
 *
 * On any error (malformed NAR, mismatch, I/O, a failing source) everything this call created is
 * removed before the error is rethrown; a `targetDir` that already existed is left untouched.
 *
 * Intended use: unpack to a temp name beside the final place, then rename(2). Renaming a
 * read-only directory into a *different* parent needs write permission on it (its `..`
 * changes) unless running as root, so keep the temp name in the same parent directory.
 */
export async function unpackNar(
  source: NarSource,
  targetDir: string,
  options: UnpackOptions = {},
): Promise<NarDigest> {
  const readOnly = options.readOnly ?? true;
  const syncWrites = options.writes === "sync";
  const root = Buffer.from(resolve(targetDir));
  const at = (path: NarPath): Buffer =>
    path.length === 0 ? root : Buffer.concat([root, ...path.flatMap((n) => [SLASH, n])]);
  // Only what this call made may be removed on failure: never a targetDir that was already there.
  let createdRoot = false;
  const created = (path: NarPath) => {
    if (path.length === 0) createdRoot = true;
  };
  let fh: FileHandle | undefined;
  try {
    for await (const ev of readNar(source, options)) {
      switch (ev.type) {
        case "directory":
          await mkdir(at(ev.path), 0o700);
          created(ev.path);
          break;
        case "directory-end":
          await chmod(at(ev.path), readOnly ? 0o555 : 0o755);
          break;
        case "regular": {
          const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
          // The creation mode only applies to later opens; this descriptor stays writable.
          const mode = (readOnly ? 0o444 : 0o644) | (ev.executable ? 0o111 : 0);
          fh = await open(at(ev.path), flags, mode);
          created(ev.path);
          await fh.chmod(mode);
          break;
        }
        case "contents":
          if (syncWrites) writeAllSync(fh as FileHandle, ev.chunk);
          else await writeAll(fh as FileHandle, ev.chunk);
          break;
        case "regular-end":
          await (fh as FileHandle).close();
          fh = undefined;
          break;
        case "symlink":
          await symlink(ev.target, at(ev.path));
          created(ev.path);
          break;
        case "end": {
          const want = options.expect;
          if (want?.narSize !== undefined && want.narSize !== ev.narSize) {
            throw new NarMismatchError("narSize", String(want.narSize), String(ev.narSize));
          }
          if (want?.narHash && !want.narHash.equals(ev.narHash)) {
            throw new NarMismatchError("narHash", want.narHash.toString("hex"), ev.narHash.toString("hex"));
          }
          return { narHash: ev.narHash, narSize: ev.narSize };
        }
      }
    }
    throw new Error("unreachable: readNar ended without an end event");
  } catch (e) {
    await fh?.close().catch(() => {});
    if (createdRoot) await removeReadOnlyTree(root).catch(() => {});
    throw e;
  }
}
