// Streams a request body to a temp file (never into memory), hashing and counting on the way, with a cap.
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { PayloadTooLargeError } from "./errors.js";

export type Body = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Uint8Array | null;

export interface Received {
  file: string;
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

export function tempName(tmpDir: string): string {
  return join(tmpDir, `${Date.now()}-${randomBytes(8).toString("hex")}.part`);
}

/** Writes `body` to a fresh file in `tmpDir`. The caller renames or removes it; on failure it is already gone. */
export async function receiveToTemp(
  body: Body,
  tmpDir: string,
  limit: number,
  what: string,
): Promise<Received> {
  const file = tempName(tmpDir);
  const hash = createHash("sha256");
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(
      toReadable(body),
      sizeCap(limit, what),
      meter,
      createWriteStream(file, { flags: "wx", mode: 0o644 }),
    );
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
  return { file, size, sha256: hash.digest() };
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
