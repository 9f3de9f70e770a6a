// Fails a push after the fact: git ignores post-receive's exit code and the ref report has been sent by then, but a
// side-band error (band 3) before receive-pack's final flush makes the client print it and `git push` exit 1.
import type { ServerResponse } from "node:http";
import { sidebandPacket, TrailingFlushHold } from "./pkt-line.js";

type WriteCallback = (err?: Error | null) => void;

const toBuffer = (chunk: unknown, encoding?: BufferEncoding): Buffer =>
  Buffer.isBuffer(chunk)
    ? chunk
    : chunk instanceof Uint8Array
      ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      : Buffer.from(String(chunk), encoding ?? "utf8");

/**
 * Wraps `res.write`/`res.end` of a receive-pack response so that its final flush is held back until the end; then,
 * when `failure()` gives a message and the client speaks side-band, that message goes out as a band-3 packet
 * right before the flush. Everything else passes through unchanged and at once.
 */
export function failBeforeFinalFlush(res: ServerResponse, failure: () => string | null): void {
  const hold = new TrailingFlushHold();
  const write = res.write.bind(res) as (chunk: Buffer, cb?: WriteCallback) => boolean;
  const end = res.end.bind(res) as (chunk?: Buffer, cb?: () => void) => ServerResponse;

  res.write = ((chunk: unknown, encoding?: unknown, cb?: unknown): boolean => {
    const callback = (typeof encoding === "function" ? encoding : cb) as WriteCallback | undefined;
    const out = hold.push(
      toBuffer(chunk, typeof encoding === "string" ? (encoding as BufferEncoding) : undefined),
    );
    if (out.length > 0) return write(out, callback);
    if (callback) process.nextTick(callback);
    return true;
  }) as ServerResponse["write"];

  res.end = ((chunk?: unknown, encoding?: unknown, cb?: unknown): ServerResponse => {
    const callback = [chunk, encoding, cb].find((x) => typeof x === "function") as (() => void) | undefined;
    const parts: Buffer[] = [];
    if (chunk !== undefined && chunk !== null && typeof chunk !== "function") {
      parts.push(
        hold.push(toBuffer(chunk, typeof encoding === "string" ? (encoding as BufferEncoding) : undefined)),
      );
    }
    const message = hold.sideband ? failure() : null;
    parts.push(hold.end(message ? sidebandPacket(3, message) : undefined).rest);
    const tail = Buffer.concat(parts);
    return tail.length > 0 ? end(tail, callback) : end(undefined, callback);
  }) as ServerResponse["end"];
}
