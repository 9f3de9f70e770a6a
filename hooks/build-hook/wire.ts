// The framing Nix's daemon speaks to its build hook on the hook's stdin (build/hook-instance.cc): u64
// little-endian integers, and strings as a length, the bytes, and zero padding to a multiple of 8.

/** Reads framed values from a byte stream as they arrive. */
export class WireReader {
  #buf: Buffer = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(input: NodeJS.ReadableStream) {
    input.on("data", (chunk: Buffer) => {
      this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
      this.#wake?.();
    });
    input.on("end", () => {
      this.#ended = true;
      this.#wake?.();
    });
  }

  async #take(n: number): Promise<Buffer> {
    while (this.#buf.length < n) {
      if (this.#ended) throw new WireEndError();
      await new Promise<void>((r) => {
        this.#wake = r;
      });
      this.#wake = undefined;
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  async int(): Promise<number> {
    const n = (await this.#take(8)).readBigUInt64LE(0);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`the daemon sent an integer too large: ${n}`);
    return Number(n);
  }

  async string(): Promise<string> {
    const len = await this.int();
    if (len > 64 * 1024 * 1024) throw new Error(`the daemon sent a string of ${len} bytes`);
    const bytes = await this.#take(len + ((8 - (len % 8)) % 8));
    return bytes.subarray(0, len).toString("utf8");
  }

  async strings(): Promise<string[]> {
    const n = await this.int();
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await this.string());
    return out;
  }
}

/** The daemon closed the hook's stdin: no more work for this hook. */
export class WireEndError extends Error {
  override name = "WireEndError";
  constructor() {
    super("the daemon closed the build hook's input");
  }
}

/** `u64 n` then `str` bytes: for tests that play the daemon's side. */
export function encodeInt(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

export function encodeString(s: string): Buffer {
  const bytes = Buffer.from(s, "utf8");
  return Buffer.concat([encodeInt(bytes.length), bytes, Buffer.alloc((8 - (bytes.length % 8)) % 8)]);
}
