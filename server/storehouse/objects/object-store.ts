// The one interface behind which NARs, narinfos, listings, build logs and channel tarballs are kept: a local
// directory (file.ts) or an S3-compatible bucket (s3.ts), chosen by `flox server --nar-store URL` (open.ts).
// Bodies stream both ways; nothing here ever holds a whole object in memory.
import type { Readable } from "node:stream";
import { StorageUnavailableError } from "../../errors.js";

export { StorageUnavailableError };

export interface ObjectMeta {
  size: number;
  /** Opaque, changes whenever the bytes may have: good for a weak validator, never shown as a content hash. */
  etag: string;
  modified: Date;
}

/** One `bytes=` range as a client asked for it: from `first` (to `last`, inclusive), or the last `suffix` bytes. */
export type ByteRange = { first: number; last?: number } | { suffix: number };

export interface ObjectBody {
  meta: ObjectMeta;
  body: Readable;
  /** The bytes sent, when a range was asked for and honoured; otherwise the whole object comes. */
  range?: { start: number; end: number };
}

export interface ListedObject {
  key: string;
  size: number;
  modified: Date;
}

/** A range that starts past the end of the object (416): `size` goes into `Content-Range: bytes *\/size`. */
export class UnsatisfiableRangeError extends Error {
  override name = "UnsatisfiableRangeError";
  constructor(readonly size: number) {
    super(`the range asked for starts past the end of the ${size}-byte object`);
  }
}

export interface ObjectStore {
  /** For logs and messages: `file:/DIR` or `s3://BUCKET/PREFIX at ENDPOINT` (never a credential). */
  readonly description: string;
  head(key: string): Promise<ObjectMeta | undefined>;
  /** Undefined when there is no such object; UnsatisfiableRangeError when `range` starts past its end. */
  get(key: string, range?: ByteRange): Promise<ObjectBody | undefined>;
  /** Replaces the object at `key` once all of `body` arrived; never leaves half an object under `key`. */
  put(key: string, body: Readable | Buffer | string): Promise<void>;
  /** Deleting what is not there is not an error. */
  delete(key: string): Promise<void>;
  /** Every object whose key starts with `prefix` (a folder, ending in `/`), in key order; after `startAfter` if given. */
  list(prefix: string, startAfter?: string): AsyncIterable<ListedObject>;
  /**
   * Discards the uploads under `prefix` begun before `startedBefore` and never finished (their writer was killed
   * mid-put) with what they stored; answers their keys. A bucket keeps such multipart uploads, unlisted, until
   * aborted; a dir store's half-written files are plain objects under tmp/, so it has none.
   */
  discardUnfinished(prefix: string, startedBefore: Date): Promise<string[]>;
  /** Renames `from` to `to` (replacing it, with a fresh modification time), as one step where the store allows. */
  move(from: string, to: string): Promise<void>;
  /** A URL a client may GET the object from directly for `seconds`; undefined where the store has none. */
  presign(key: string, seconds: number): Promise<string | undefined>;
  /**
   * At start: InvalidInputError when the store can never work as given (no such bucket, credentials refused), so
   * the server stops with the reason; StorageUnavailableError when it does not answer now (it may come back).
   */
  check(): Promise<void>;
  close(): void;
}

/** Keys are made by our own code from validated names; this catches a bug before it reaches a path or a bucket. */
export function checkKey(key: string): string {
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(key) || key.split("/").some((s) => /^\.\.?$/.test(s)))
    throw new Error(`internal error: ${JSON.stringify(key)} is not an object key`);
  return key;
}

/** Reads a small object (a narinfo, a signature) as text; undefined when absent. */
export async function getText(store: ObjectStore, key: string): Promise<string | undefined> {
  const got = await store.get(key);
  if (!got) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of got.body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
