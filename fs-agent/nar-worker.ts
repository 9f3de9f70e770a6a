// The worker thread that takes the CPU work of a fetch off the FUSE thread: decompressing a NAR, hashing
// it and unpacking it (a store path), or hashing and writing one Range-fetched file. The main thread only
// moves bytes from the socket to here (off-thread.ts); every FUSE op stays answerable meanwhile.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { PassThrough, pipeline, type Readable } from "node:stream";
import { finished } from "node:stream/promises";
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

export type ToWorker =
  | JobStart
  | { type: "chunk"; id: number; chunk: Uint8Array }
  | { type: "end" | "abort"; id: number };

export type FromWorker =
  | { type: "ack"; id: number; bytes: number }
  | { type: "done"; id: number; sha256?: string; size?: number }
  | { type: "error"; id: number; name: string; message: string; code?: string };

function decompressed(compression: string, body: Readable): Readable {
  const z = narDecompressor(compression);
  return z ? pipeline(body, z, () => {}) : body;
}

async function run(job: JobStart, input: PassThrough): Promise<{ sha256?: string; size?: number }> {
  if (job.type === "nar") {
    await unpackNar(decompressed(job.compression, input), job.target, {
      expect: { narHash: Buffer.from(job.narHash), narSize: job.narSize },
    });
    return {};
  }
  const hash = createHash("sha256");
  let size = 0;
  const out = createWriteStream(job.target, { flags: "wx" });
  input.on("data", (chunk: Buffer) => {
    hash.update(chunk);
    size += chunk.length;
  });
  input.pipe(out);
  await finished(out);
  return { sha256: encodeNix32(hash.digest()), size };
}

const port = parentPort;
if (port) {
  const inputs = new Map<number, PassThrough>();
  port.on("message", (msg: ToWorker) => {
    switch (msg.type) {
      case "nar":
      case "file": {
        const input = new PassThrough({ highWaterMark: 1 << 20 });
        inputs.set(msg.id, input);
        run(msg, input).then(
          (r) => {
            inputs.delete(msg.id);
            port.postMessage({ type: "done", id: msg.id, ...r } satisfies FromWorker);
          },
          (err: NodeJS.ErrnoException) => {
            inputs.delete(msg.id);
            input.destroy();
            port.postMessage({
              type: "error",
              id: msg.id,
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
        const bytes = msg.chunk.byteLength;
        // Acknowledged once consumed: the main thread sends more only while little is unacknowledged.
        const ack = () => port.postMessage({ type: "ack", id: msg.id, bytes } satisfies FromWorker);
        if (input && !input.destroyed)
          input.write(Buffer.from(msg.chunk.buffer, msg.chunk.byteOffset, bytes), ack);
        else ack();
        break;
      }
      case "end":
        inputs.get(msg.id)?.end();
        inputs.delete(msg.id);
        break;
      case "abort":
        inputs.get(msg.id)?.destroy(new Error("the fetch was abandoned"));
        inputs.delete(msg.id);
        break;
    }
  });
}
