import { createHash } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { lstat, open, readdir, readlink } from "node:fs/promises";
import { Readable } from "node:stream";
import type { NarDigest } from "./nar-reader.js";

/** The path holds something a NAR cannot represent (socket, fifo, device). */
export class UnsupportedFileTypeError extends Error {
  override name = "UnsupportedFileTypeError";
  constructor(
    readonly path: string,
    readonly kind: string,
  ) {
    super(
      `cannot put ${path} in a NAR: it is a ${kind}; only regular files, symlinks and directories can be`,
    );
  }
}

/** A file changed while it was being serialised, so the NAR would not describe one consistent state. */
export class NarSourceChangedError extends Error {
  override name = "NarSourceChangedError";
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path} changed while it was being put in a NAR: ${detail}`);
  }
}

// Small tokens are batched so a tree of tiny files does not become one stream chunk per token.
const BATCH_BYTES = 64 * 1024;
const READ_BYTES = 256 * 1024;
const SLASH = Buffer.from("/");
const ZEROS = Buffer.alloc(8);

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

function padding(len: number): Buffer {
  return ZEROS.subarray(0, (8 - (len % 8)) % 8);
}

function str(s: string | Buffer): Buffer {
  const bytes = typeof s === "string" ? Buffer.from(s, "utf8") : s;
  return Buffer.concat([u64(bytes.length), bytes, padding(bytes.length)]);
}

const T = {
  magic: str("nix-archive-1"),
  open: str("("),
  close: str(")"),
  type: str("type"),
  regular: str("regular"),
  executable: str("executable"),
  empty: str(""),
  contents: str("contents"),
  symlink: str("symlink"),
  target: str("target"),
  directory: str("directory"),
  entry: str("entry"),
  name: str("name"),
  node: str("node"),
};

class Batch {
  private parts: Buffer[] = [];
  private length = 0;
  push(...bufs: Buffer[]): void {
    for (const b of bufs) {
      this.parts.push(b);
      this.length += b.length;
    }
  }
  get full(): boolean {
    return this.length >= BATCH_BYTES;
  }
  take(): Buffer | undefined {
    if (this.length === 0) return undefined;
    const out = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.length);
    this.parts = [];
    this.length = 0;
    return out;
  }
}

function kindOf(st: Stats): string {
  if (st.isSocket()) return "socket";
  if (st.isFIFO()) return "fifo";
  if (st.isBlockDevice()) return "block device";
  if (st.isCharacterDevice()) return "character device";
  return "file of unknown type";
}

function display(p: Buffer): string {
  return p.toString("utf8");
}

async function* regularFile(path: Buffer, batch: Batch): AsyncGenerator<Buffer> {
  // O_NOFOLLOW + fstat: what we read is the very file lstat saw as regular, not whatever a swapped-in symlink names.
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new NarSourceChangedError(display(path), "it is no longer a regular file");
    const size = st.size;
    if ((st.mode & 0o100) !== 0) batch.push(T.executable, T.empty);
    batch.push(T.contents, u64(size));
    let done = 0;
    while (done < size) {
      // A fresh buffer per read: consumers may keep chunks (queues, hashes in flight).
      const buf = Buffer.allocUnsafe(Math.min(READ_BYTES, size - done));
      const { bytesRead } = await fh.read(buf, 0, buf.length, done);
      if (bytesRead === 0) throw new NarSourceChangedError(display(path), `it shrank below ${size} bytes`);
      done += bytesRead;
      batch.push(buf.subarray(0, bytesRead));
      if (batch.full) yield batch.take() as Buffer;
    }
    batch.push(padding(size), T.close);
  } finally {
    await fh.close();
  }
}

async function* node(path: Buffer, batch: Batch): AsyncGenerator<Buffer> {
  const st = await lstat(path);
  batch.push(T.open, T.type);
  if (st.isFile()) {
    batch.push(T.regular);
    yield* regularFile(path, batch);
  } else if (st.isSymbolicLink()) {
    const target = await readlink(path, { encoding: "buffer" });
    batch.push(T.symlink, T.target, str(target), T.close);
  } else if (st.isDirectory()) {
    batch.push(T.directory);
    // Nix orders entries by the raw bytes of their names; JS string order differs beyond the BMP.
    const names = (await readdir(path, { encoding: "buffer" })).sort(Buffer.compare);
    for (const name of names) {
      batch.push(T.entry, T.open, T.name, str(name), T.node);
      yield* node(Buffer.concat([path, SLASH, name]), batch);
      batch.push(T.close);
      if (batch.full) yield batch.take() as Buffer;
    }
    batch.push(T.close);
  } else {
    throw new UnsupportedFileTypeError(display(path), kindOf(st));
  }
  if (batch.full) yield batch.take() as Buffer;
}

/**
 * The NAR serialisation of `path` (not following it if it is a symlink), as Buffer chunks of
 * at most a few hundred KiB: file contents are read piecewise, never whole.
 * Byte-for-byte what `nix-store --dump path` prints. Names are handled as raw bytes, so
 * names that are not valid UTF-8 survive.
 */
export async function* narChunks(path: string): AsyncGenerator<Buffer, void, undefined> {
  const batch = new Batch();
  batch.push(T.magic);
  yield* node(Buffer.from(path), batch);
  const rest = batch.take();
  if (rest) yield rest;
}

/**
 * `narChunks` as a byte-mode Readable, for `pipeline()` into a hash, a compressor or an HTTP body.
 * The generator is pulled only as fast as the stream is read, so backpressure holds.
 */
export function narStream(path: string): Readable {
  return Readable.from(narChunks(path), { objectMode: false });
}

/** NarHash (sha256) and NarSize of `path`, computed while streaming its NAR. */
export async function narHashOfPath(path: string): Promise<NarDigest> {
  const hash = createHash("sha256");
  let narSize = 0;
  for await (const chunk of narChunks(path)) {
    hash.update(chunk);
    narSize += chunk.length;
  }
  return { narHash: hash.digest(), narSize };
}
