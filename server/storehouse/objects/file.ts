// `--nar-store file:DIR` (the default, DATA_DIR/store): objects are files under DIR, keys are their relative paths.
// Writes go to DIR/tmp/ first and are renamed into place, so a reader never sees half a file.
import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, rename, rm, stat, utimes } from "node:fs/promises";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseRange } from "../serve-file.js";
import {
  type ByteRange,
  checkKey,
  type ListedObject,
  type ObjectBody,
  type ObjectMeta,
  type ObjectStore,
  UnsatisfiableRangeError,
} from "./object-store.js";

function metaOf(st: { size: number; mtimeMs: number; mtime: Date; ino: number }): ObjectMeta {
  return {
    size: st.size,
    etag: `${st.ino.toString(36)}-${st.size.toString(36)}-${Math.trunc(st.mtimeMs).toString(36)}`,
    modified: st.mtime,
  };
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/** The range in the header syntax parseRange (serve-file.ts) understands, so both stores agree on the rules. */
export function rangeHeader(range: ByteRange): string {
  return "suffix" in range ? `bytes=-${range.suffix}` : `bytes=${range.first}-${range.last ?? ""}`;
}

export class FileObjectStore implements ObjectStore {
  readonly description: string;

  constructor(readonly root: string) {
    this.description = `file:${root}`;
  }

  private path(key: string): string {
    return join(this.root, checkKey(key));
  }

  /** The file behind `key`, for the raw-HTTP fast path that streams NARs itself (cache-fast-path.ts). */
  localPath(key: string): string {
    return this.path(key);
  }

  async head(key: string): Promise<ObjectMeta | undefined> {
    try {
      const st = await stat(this.path(key));
      return st.isFile() ? metaOf(st) : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async get(key: string, range?: ByteRange): Promise<ObjectBody | undefined> {
    const meta = await this.head(key);
    if (!meta) return undefined;
    let span: { start: number; end: number } | undefined;
    if (range) {
      const r = parseRange(rangeHeader(range), meta.size);
      if (r.kind === "unsatisfiable") throw new UnsatisfiableRangeError(meta.size);
      if (r.kind === "range") span = { start: r.start, end: r.end };
    }
    const body = createReadStream(this.path(key), span ?? {});
    return { meta, body, ...(span ? { range: span } : {}) };
  }

  async put(key: string, body: Readable | Buffer | string): Promise<void> {
    const target = this.path(key);
    const tmpDir = join(this.root, "tmp");
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, `${Date.now()}-${randomBytes(8).toString("hex")}.write`);
    try {
      const source = typeof body === "string" || Buffer.isBuffer(body) ? Readable.from([body]) : body;
      await pipeline(source, createWriteStream(tmp, { flags: "wx", mode: 0o644 }));
      await mkdir(dirname(target), { recursive: true });
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async *list(prefix: string, startAfter?: string): AsyncIterable<ListedObject> {
    const walk = async function* (dir: string, keyPrefix: string): AsyncIterable<ListedObject> {
      let names: string[];
      try {
        names = (await readdir(dir)).sort();
      } catch (err) {
        if (isMissing(err)) return;
        throw err;
      }
      for (const name of names) {
        // Keys sort as S3 sorts them (by code unit); a folder is walked when keys inside it may still come after.
        const key = `${keyPrefix}${name}`;
        if (startAfter !== undefined && key <= startAfter && !startAfter.startsWith(`${key}/`)) continue;
        const st = await stat(join(dir, name)).catch(() => undefined);
        if (!st) continue; // gone meanwhile
        if (st.isDirectory()) yield* walk(join(dir, name), `${keyPrefix}${name}/`);
        else if (st.isFile()) yield { key, size: st.size, modified: st.mtime };
      }
    };
    const folder = prefix.replace(/\/$/, "");
    yield* walk(folder ? this.path(folder) : this.root, prefix);
  }

  async discardUnfinished(): Promise<string[]> {
    return [];
  }

  async move(from: string, to: string): Promise<void> {
    const target = this.path(to);
    await mkdir(dirname(target), { recursive: true });
    await rename(this.path(from), target);
    // A fresh time, as a copy in a bucket gets: the orphan sweep's grace counts from the last upload.
    const now = new Date();
    await utimes(target, now, now);
  }

  async presign(): Promise<string | undefined> {
    return undefined;
  }

  async check(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  close(): void {}
}
