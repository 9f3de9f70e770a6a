// Streams a request body to a temporary object (never into memory), hashing and counting on the way, with a cap.
import { createHash } from "node:crypto";
import { PassThrough, Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { PayloadTooLargeError } from "./errors.js";
import { tmpKey } from "./layout.js";
import type { ObjectStore } from "./objects/object-store.js";

export type Body = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Uint8Array | null;

export interface Received {
  /** The temporary key it was stored under (layout.ts tmpKey). */
  key: string;
  size: number;
  sha256: Buffer;
}

export function toReadable(body: Body): Readable {
  if (body === null) return Readable.from([]);
  if (body instanceof Uint8Array) return Readable.from([body]);
  if (Symbol.asyncIterator in body && !(body instanceof ReadableStream)) return Readable.from(body);
  return Readable.fromWeb(body as unknown as WebReadableStream<Uint8Array>);
}

/** Fails with PayloadTooLargeError once more than `limit` bytes went through. */
export function sizeCap(limit: number, what: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > limit)
        done(new PayloadTooLargeError(`${what} is larger than this server accepts (${limit} bytes)`));
      else done(null, chunk);
    },
  });
}

/**
 * Writes `body` to a fresh temporary object. The caller moves or deletes it; on failure it is already gone. The
 * store reads from the end of the chain as fast as it writes, so only its parts in flight are ever in memory.
 */
export async function receiveToTemp(
  body: Body,
  objects: ObjectStore,
  limit: number,
  what: string,
): Promise<Received> {
  const key = tmpKey();
  const hash = createHash("sha256");
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const tail = new PassThrough();
  let storeFailedFirst = false;
  const piping = pipeline(toReadable(body), sizeCap(limit, what), meter, tail);
  const storing = objects.put(key, tail).catch((err: unknown) => {
    // The body stops flowing with nowhere to go: end the pipeline so the request is not left hanging.
    storeFailedFirst = !tail.destroyed;
    tail.destroy(err as Error);
    throw err;
  });
  const [piped, stored] = await Promise.allSettled([piping, storing]);
  // Whichever failed first explains it: the body's own fault (too large, cut off), or the store's.
  const failure =
    stored.status === "rejected" && (storeFailedFirst || piped.status === "fulfilled")
      ? stored.reason
      : piped.status === "rejected"
        ? piped.reason
        : undefined;
  if (failure !== undefined) {
    await objects.delete(key).catch(() => undefined);
    throw failure;
  }
  return { key, size, sha256: hash.digest() };
}

/** Reads a small body into memory, refusing more than `limit` bytes. */
export async function receiveSmall(body: Body, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of toReadable(body)) {
    size += (chunk as Buffer).length;
    if (size > limit)
      throw new PayloadTooLargeError(`${what} is larger than this server accepts (${limit} bytes)`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
