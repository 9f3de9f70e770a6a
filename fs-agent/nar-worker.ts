// The worker thread that takes the CPU work of a fetch off the FUSE thread: decompressing a NAR, hashing
// it and unpacking it (a store path), or hashing and writing one Range-fetched file. The main thread only
// moves bytes from the socket to here (off-thread.ts); every FUSE op stays answerable meanwhile.
import { createHash } from "node:crypto";
import { closeSync, openSync, writeSync } from "node:fs";
import { pipeline, Readable } from "node:stream";
import { parentPort } from "node:worker_threads";
import { narDecompressor } from "../lib/nar-compression.js";
import { unpackNar } from "../lib/nar-unpack.js";
import { encodeNix32 } from "../lib/nix32.js";

export type JobStart =
  | {
      type: "nar";
      id: number;
      compression: string;
      target: string;
      narHash: Uint8Array;
      narSize: number;
    }
  | { type: "file"; id: number; target: string };

/** `chunk`: `bytes` bytes at the start of `buffer`, a batch of the socket's chunks moved (not copied) here. */
export type ToWorker =
  | JobStart
  | { type: "chunk"; id: number; buffer: ArrayBuffer; bytes: number }
  | { type: "end" | "abort"; id: number };

/** `ack`: `bytes` are consumed; `buffer`, when given, is moved back for the main thread to fill again. */
export type FromWorker =
  | { type: "ack"; id: number; bytes: number; buffer?: ArrayBuffer }
  | { type: "done"; id: number; sha256?: string; size?: number }
  | { type: "error"; id: number; name: string; message: string; code?: string };

/**
 * One job's bytes as they arrive, read once in order. A chunk is acknowledged when the reader asks for the
 * next one: the unpacker (and the file loop below) hold no view on a chunk past that point, so its buffer can
 * go back to the main thread's pool. A reader that may keep views longer (a decompressor) says `lend: false`.
 */
class Inbox implements AsyncIterable<Buffer> {
  readonly #queue: Buffer[] = [];
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #lent: Buffer | undefined;

  constructor(
    private readonly ack: (bytes: number, buffer: ArrayBuffer | undefined) => void,
    private readonly lend: boolean,
  ) {}

  push(buffer: ArrayBuffer, bytes: number): void {
    if (this.#ended || this.#error) {
      this.ack(bytes, this.lend ? buffer : undefined);
      return;
    }
    this.#queue.push(Buffer.from(buffer, 0, bytes));
    this.#poke();
  }

  end(): void {
    this.#ended = true;
    this.#poke();
  }

  abort(err: Error): void {
    this.#error ??= err;
    this.#poke();
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #giveBack(): void {
    const b = this.#lent;
    this.#lent = undefined;
    if (b) this.ack(b.length, this.lend ? (b.buffer as ArrayBuffer) : undefined);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        this.#giveBack();
        if (this.#error) throw this.#error;
        const next = this.#queue.shift();
        if (next) {
          this.#lent = next;
          yield next;
          continue;
        }
        if (this.#ended) return;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
    } finally {
      // A reader that stopped early (a bad NAR) still owes the main thread its acknowledgements.
      this.#giveBack();
      for (const b of this.#queue.splice(0)) this.ack(b.length, undefined);
    }
  }
}

async function run(job: JobStart, input: Inbox): Promise<{ sha256?: string; size?: number }> {
  if (job.type === "nar") {
    const z = narDecompressor(job.compression);
    // objectMode with a small mark: the decompressor pulls at most two batches ahead of what it has used.
    const source = z
      ? pipeline(Readable.from(input, { objectMode: true, highWaterMark: 2 }), z, () => {})
      : input;
    // This thread has no other job than this work: a write is one syscall, not a thread-pool round trip.
    await unpackNar(source, job.target, {
      expect: { narHash: Buffer.from(job.narHash), narSize: job.narSize },
      writes: "sync",
    });
    return {};
  }
  const hash = createHash("sha256");
  let size = 0;
  const fd = openSync(job.target, "wx");
  try {
    for await (const chunk of input) {
      hash.update(chunk);
      size += chunk.length;
      let off = 0;
      while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: encodeNix32(hash.digest()), size };
}

const port = parentPort;
if (port) {
  const inputs = new Map<number, Inbox>();
  port.on("message", (msg: ToWorker) => {
    switch (msg.type) {
      case "nar":
      case "file": {
        const id = msg.id;
        const lend = msg.type === "file" || msg.compression === "none";
        // Acknowledged once consumed: the main thread sends more only while little is unacknowledged.
        const input = new Inbox((bytes, buffer) => {
          const ack: FromWorker = { type: "ack", id, bytes, ...(buffer ? { buffer } : {}) };
          port.postMessage(ack, buffer ? [buffer] : []);
        }, lend);
        inputs.set(id, input);
        run(msg, input).then(
          (r) => {
            inputs.delete(id);
            port.postMessage({ type: "done", id, ...r } satisfies FromWorker);
          },
          (err: NodeJS.ErrnoException) => {
            inputs.delete(id);
            input.abort(err);
            port.postMessage({
              type: "error",
              id,
              name: err.name,
              message: err.message,
              ...(err.code ? { code: String(err.code) } : {}),
            } satisfies FromWorker);
          },
        );
        break;
      }
      case "chunk": {
        const input = inputs.get(msg.id);
        if (input) input.push(msg.buffer, msg.bytes);
        else port.postMessage({ type: "ack", id: msg.id, bytes: msg.bytes } satisfies FromWorker);
        break;
      }
      case "end":
        inputs.get(msg.id)?.end();
        break;
      case "abort":
        inputs.get(msg.id)?.abort(new Error("the fetch was abandoned"));
        break;
    }
  });
}
