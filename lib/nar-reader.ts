import { createHash, type Hash } from "node:crypto";

/** The bytes are not a well-formed, canonical NAR. `offset` is where in the NAR the problem starts. */
export class NarFormatError extends Error {
  override name = "NarFormatError";
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`invalid NAR at byte ${offset}: ${reason}`);
  }
}

/**
 * Caps on what one NAR may contain. Names: NAME_MAX on Linux. Symlink targets: what symlink(2)
 * accepts (PATH_MAX, 4096, counts the terminating NUL). Depth: far beyond any real store path,
 * and it bounds the cost of each event (events carry their full path) and of unpacking.
 */
export const NAR_LIMITS = {
  name: 255,
  target: 4095,
  token: 16,
  depth: 512,
} as const;

/** Names from the root to a node, raw bytes; the root is `[]`. */
export type NarPath = readonly Buffer[];

/**
 * What the reader reports, in NAR order. A regular file is `regular`, then `contents` chunks
 * (together exactly `size` bytes, possibly none), then `regular-end`. A directory is `directory`,
 * its children (sorted by raw bytes, each named by the last element of its `path`), then
 * `directory-end`. The last event is `end`, only once the whole NAR has been validated.
 */
export type NarEvent =
  | { type: "directory"; path: NarPath }
  | { type: "directory-end"; path: NarPath }
  | {
      type: "regular";
      path: NarPath;
      executable: boolean;
      size: number;
      /** Offset of the file's first byte in the (uncompressed) NAR. */
      narOffset: number;
    }
  | { type: "contents"; path: NarPath; chunk: Buffer }
  | { type: "regular-end"; path: NarPath }
  | { type: "symlink"; path: NarPath; target: Buffer }
  | { type: "end"; narHash: Buffer; narSize: number };

export interface NarDigest {
  /** sha256 of the NAR bytes (32 bytes). */
  narHash: Buffer;
  /** Length of the NAR in bytes. */
  narSize: number;
}

/**
 * The NAR's bytes. A source may reuse a chunk's memory once the reader asks it for the next chunk: nothing the
 * reader keeps or yields refers to an earlier chunk, except a `contents` event's chunk, which is only valid
 * until the next event is asked for.
 */
export type NarSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array;

export interface NarReaderOptions {
  /** Deepest allowed node (the root is 0). Default NAR_LIMITS.depth. */
  maxDepth?: number;
}

const EMPTY = Buffer.alloc(0);

function quote(bytes: Buffer, max = 40): string {
  const s = bytes.toString("utf8");
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);
}

// Pull-based view of a stream of arbitrarily sized chunks; every byte it hands out goes through the hash.
class ByteSource {
  offset = 0;
  private buf: Buffer = EMPTY;
  private finished = false;
  private readonly hash: Hash = createHash("sha256");
  private readonly it: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;

  constructor(source: NarSource) {
    if (source instanceof Uint8Array) this.it = [source][Symbol.iterator]();
    else if (Symbol.asyncIterator in source) this.it = source[Symbol.asyncIterator]();
    else this.it = source[Symbol.iterator]();
  }

  private async next(): Promise<Buffer | undefined> {
    if (this.finished) return undefined;
    const r = await this.it.next();
    if (r.done) {
      this.finished = true;
      return undefined;
    }
    const v: unknown = r.value;
    if (!(v instanceof Uint8Array)) throw new TypeError("a NAR source must yield Buffers or Uint8Arrays");
    return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  }

  private consume(b: Buffer): Buffer {
    this.hash.update(b);
    this.offset += b.length;
    return b;
  }

  /** Exactly n bytes, or a NarFormatError naming `what` if the stream ends first. */
  async exact(n: number, what: string): Promise<Buffer> {
    if (this.buf.length >= n) {
      // A copy, not a view: names and targets outlive the chunk, whose memory the source may reuse.
      const out = Buffer.from(this.buf.subarray(0, n));
      this.buf = this.buf.subarray(n);
      return this.consume(out);
    }
    // Copy only the n bytes needed, so a token straddling two big chunks costs O(n), not O(chunk).
    const out = Buffer.allocUnsafe(n);
    let have = this.buf.copy(out, 0);
    this.buf = EMPTY;
    while (have < n) {
      const c = await this.next();
      if (!c) throw new NarFormatError(this.offset + have, `unexpected end of NAR in ${what}`);
      const k = Math.min(c.length, n - have);
      c.copy(out, have, 0, k);
      have += k;
      this.buf = c.subarray(k);
    }
    return this.consume(out);
  }

  /** n bytes as they arrive, without gathering them. */
  async *stream(n: number, what: string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0) {
        const c = await this.next();
        if (!c)
          throw new NarFormatError(this.offset, `unexpected end of NAR in ${what} (${left} bytes missing)`);
        this.buf = c;
        continue;
      }
      const k = Math.min(this.buf.length, left);
      const out = this.buf.subarray(0, k);
      this.buf = this.buf.subarray(k);
      left -= k;
      yield this.consume(out);
    }
  }

  async atEnd(): Promise<boolean> {
    while (this.buf.length === 0) {
      const c = await this.next();
      if (!c) return true;
      this.buf = c;
    }
    return false;
  }

  digest(): Buffer {
    return this.hash.digest();
  }

  async close(): Promise<void> {
    if (!this.finished) {
      this.finished = true;
      await this.it.return?.();
    }
  }
}

class Parser {
  constructor(private readonly src: ByteSource) {}

  private fail(offset: number, reason: string): never {
    throw new NarFormatError(offset, reason);
  }

  async u64(what: string, max: number): Promise<number> {
    const start = this.src.offset;
    const b = await this.src.exact(8, what);
    const n = b.readBigUInt64LE();
    if (n > BigInt(max)) this.fail(start, `${what} is ${n}, more than the maximum ${max}`);
    return Number(n);
  }

  async padding(len: number, what: string): Promise<void> {
    const pad = (8 - (len % 8)) % 8;
    if (pad === 0) return;
    const start = this.src.offset;
    const b = await this.src.exact(pad, `padding of ${what}`);
    if (b.some((x) => x !== 0)) this.fail(start, `non-zero padding after ${what}`);
  }

  async string(max: number, what: string): Promise<Buffer> {
    const len = await this.u64(`length of ${what}`, max);
    const s = await this.src.exact(len, what);
    await this.padding(len, what);
    return s;
  }

  async token(context: string): Promise<{ at: number; value: string }> {
    const at = this.src.offset;
    const len = await this.src.exact(8, `token ${context}`);
    const n = len.readBigUInt64LE();
    if (n > BigInt(NAR_LIMITS.token))
      this.fail(at, `expected a token ${context}, found a string of ${n} bytes`);
    const bytes = await this.src.exact(Number(n), `token ${context}`);
    await this.padding(Number(n), `token ${quote(bytes)}`);
    return { at, value: bytes.toString("latin1") };
  }

  async expect(token: string, context: string): Promise<void> {
    const t = await this.token(context);
    if (t.value !== token)
      this.fail(t.at, `expected ${JSON.stringify(token)} ${context}, found ${JSON.stringify(t.value)}`);
  }

  async name(prev: Buffer | undefined): Promise<Buffer> {
    const at = this.src.offset;
    const name = await this.string(NAR_LIMITS.name, "entry name");
    const bad = (why: string) => this.fail(at, `invalid entry name ${quote(name)}: ${why}`);
    if (name.length === 0) bad("empty");
    if (name.equals(DOT) || name.equals(DOTDOT)) bad("reserved");
    if (name.includes(0x2f)) bad("contains '/'");
    if (name.includes(0)) bad("contains NUL");
    if (prev) {
      const cmp = Buffer.compare(prev, name);
      if (cmp === 0) bad("duplicate entry");
      if (cmp > 0) bad(`entries not sorted (comes after ${quote(prev)})`);
    }
    return name;
  }
}

const DOT = Buffer.from(".");
const DOTDOT = Buffer.from("..");
const MAX_SIZE = Number.MAX_SAFE_INTEGER;

/**
 * Parse and validate a NAR from `source` (a Readable, any async/sync iterable of byte chunks of
 * any size, or one Buffer), yielding events as the bytes arrive; file contents are never gathered.
 * Stricter than Nix's own reader: only the canonical form Nix writes is accepted (fields in Nix's
 * order, `executable ""` only before `contents`), so one tree has exactly one NAR and one NarHash.
 * Throws NarFormatError on malformed input; errors of the source itself pass through unchanged.
 * Stopping early (break) closes the source.
 */
export async function* readNar(source: NarSource, options: NarReaderOptions = {}): AsyncGenerator<NarEvent> {
  const maxDepth = options.maxDepth ?? NAR_LIMITS.depth;
  const src = new ByteSource(source);
  const p = new Parser(src);
  try {
    {
      const at = src.offset;
      const magic = await src.exact(8, "magic");
      const n = magic.readBigUInt64LE();
      const want = "nix-archive-1";
      if (n !== BigInt(want.length)) throw new NarFormatError(at, `not a NAR: bad magic (length ${n})`);
      const m = await src.exact(want.length, "magic");
      if (m.toString("latin1") !== want) throw new NarFormatError(at, `not a NAR: bad magic ${quote(m)}`);
      await p.padding(want.length, "magic");
    }

    // Open directories, innermost last; iterative so that depth costs no stack or per-event work.
    const stack: { path: NarPath; prev: Buffer | undefined }[] = [];
    let next: NarPath | undefined = [];
    for (;;) {
      if (next) {
        const path: NarPath = next;
        next = undefined;
        const start = src.offset;
        if (path.length > maxDepth) throw new NarFormatError(start, `nodes nested deeper than ${maxDepth}`);
        await p.expect("(", "opening a node");
        await p.expect("type", "after '('");
        const type = await p.token("for the node type");
        if (type.value === "regular") {
          let field = await p.token("in a regular file");
          let executable = false;
          if (field.value === "executable") {
            const v = await p.string(NAR_LIMITS.token, "executable marker");
            if (v.length !== 0) throw new NarFormatError(field.at, "executable marker has a non-empty value");
            executable = true;
            field = await p.token("in a regular file");
          }
          if (field.value !== "contents") {
            throw new NarFormatError(field.at, `expected "contents", found ${JSON.stringify(field.value)}`);
          }
          const size = await p.u64("file size", MAX_SIZE);
          yield { type: "regular", path, executable, size, narOffset: src.offset };
          for await (const chunk of src.stream(size, "file contents"))
            yield { type: "contents", path, chunk };
          await p.padding(size, "file contents");
          await p.expect(")", "closing a regular file");
          yield { type: "regular-end", path };
        } else if (type.value === "symlink") {
          await p.expect("target", "in a symlink");
          const at = src.offset;
          const target = await p.string(NAR_LIMITS.target, "symlink target");
          if (target.length === 0) throw new NarFormatError(at, "empty symlink target");
          if (target.includes(0)) throw new NarFormatError(at, "symlink target contains NUL");
          await p.expect(")", "closing a symlink");
          yield { type: "symlink", path, target };
        } else if (type.value === "directory") {
          yield { type: "directory", path };
          stack.push({ path, prev: undefined });
          continue;
        } else {
          throw new NarFormatError(type.at, `unknown node type ${JSON.stringify(type.value)}`);
        }
        if (stack.length === 0) break;
        await p.expect(")", "closing a directory entry");
        continue;
      }

      const dir = stack[stack.length - 1];
      if (!dir) break;
      const t = await p.token("in a directory");
      if (t.value === ")") {
        stack.pop();
        yield { type: "directory-end", path: dir.path };
        if (stack.length === 0) break;
        await p.expect(")", "closing a directory entry");
        continue;
      }
      if (t.value !== "entry") {
        throw new NarFormatError(
          t.at,
          `expected "entry" or ")" in a directory, found ${JSON.stringify(t.value)}`,
        );
      }
      await p.expect("(", "opening a directory entry");
      await p.expect("name", "in a directory entry");
      const name = await p.name(dir.prev);
      dir.prev = name;
      await p.expect("node", "after an entry name");
      next = [...dir.path, name];
    }

    if (!(await src.atEnd())) throw new NarFormatError(src.offset, "trailing data after the root node");
    yield { type: "end", narHash: src.digest(), narSize: src.offset };
  } finally {
    await src.close();
  }
}

/** Validate a whole NAR, returning its NarHash (sha256) and NarSize. */
export async function validateNar(source: NarSource, options: NarReaderOptions = {}): Promise<NarDigest> {
  for await (const ev of readNar(source, options)) {
    if (ev.type === "end") return { narHash: ev.narHash, narSize: ev.narSize };
  }
  throw new Error("unreachable: readNar ended without an end event");
}
