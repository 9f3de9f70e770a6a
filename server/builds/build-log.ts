// Build logs in the object store (`--nar-store`, DATA_DIR/store by default), so that every server of a fleet reads
// what any of them received. An object store cannot append, so each piece a builder sends is its own object,
// `logs/<build id>/<byte offset, 15 digits>`: in key order they are the log. Reads go from an offset (a follower
// — `flox log --follow`, the log API, the build page — gets each byte once); each server remembers the pieces it
// has seen and lists only the newer ones.
import { Readable } from "node:stream";
import { LRUCache } from "lru-cache";
import { KeyedMutex } from "../git/keyed-mutex.js";
import type { DataPaths } from "../paths.js";
import { FileObjectStore } from "../storehouse/objects/file.js";
import type { ObjectStore } from "../storehouse/objects/object-store.js";

/** The most one read hands out; a follower simply asks again from the new offset. */
const MAX_READ = 1024 * 1024;
/** Builds whose piece lists are kept in memory (a few hundred bytes each, more for long logs). */
const INDEXED_BUILDS = 2000;

interface Piece {
  key: string;
  /** Where it starts in the log. */
  start: number;
  size: number;
}

const prefix = (buildId: number) => `logs/${buildId}/`;
const pieceKey = (buildId: number, offset: number) => `${prefix(buildId)}${String(offset).padStart(15, "0")}`;

export interface BuildLog {
  /** Adds bytes at the end. */
  append(bytes: Buffer | string | Readable): Promise<void>;
  /** The bytes from `offset` on (at most 1 MiB); empty when there are none (yet). */
  readFrom(offset: number): Promise<Buffer>;
  /** Bytes so far and pieces: with the build id, a validator that changes whenever the log grew. */
  stat(): Promise<{ size: number; pieces: number }>;
  /** The whole log as it is now, streamed piece by piece. */
  stream(): Readable;
}

/** The logs of every build, over one object store. */
export class BuildLogs {
  readonly #index = new LRUCache<number, Piece[]>({ max: INDEXED_BUILDS });
  readonly #locks = new KeyedMutex();

  constructor(readonly objects: ObjectStore) {}

  /** The pieces of a log, in order: those seen before, then any stored since (by this or another server). */
  async #pieces(buildId: number): Promise<Piece[]> {
    const known = this.#index.get(buildId) ?? [];
    const last = known[known.length - 1];
    const pieces = [...known];
    let end = last ? last.start + last.size : 0;
    for await (const o of this.objects.list(prefix(buildId), last?.key)) {
      pieces.push({ key: o.key, start: end, size: o.size });
      end += o.size;
    }
    this.#index.set(buildId, pieces);
    return pieces;
  }

  of(buildId: number): BuildLog {
    return {
      append: async (bytes) => {
        const release = await this.#locks.acquire(String(buildId));
        try {
          const pieces = await this.#pieces(buildId);
          const last = pieces[pieces.length - 1];
          await this.objects.put(pieceKey(buildId, last ? last.start + last.size : 0), bytes);
        } finally {
          release();
        }
      },
      readFrom: async (offset) => {
        const out: Buffer[] = [];
        let at = offset;
        let room = MAX_READ;
        for (const p of await this.#pieces(buildId)) {
          if (room <= 0) break;
          if (p.start + p.size <= at || p.size === 0) continue;
          const first = at - p.start;
          const last = Math.min(p.size, first + room) - 1;
          const got = await this.objects.get(p.key, { first, last });
          if (!got) break; // removed meanwhile (the build's log was cleared)
          for await (const c of got.body) out.push(c as Buffer);
          const read = last - first + 1;
          at += read;
          room -= read;
        }
        return Buffer.concat(out);
      },
      stat: async () => {
        const pieces = await this.#pieces(buildId);
        const last = pieces[pieces.length - 1];
        return { size: last ? last.start + last.size : 0, pieces: pieces.length };
      },
      stream: () => {
        const self = this;
        return Readable.from(
          (async function* () {
            for (const p of await self.#pieces(buildId)) {
              const got = await self.objects.get(p.key);
              if (got) yield* got.body;
            }
          })(),
        );
      },
    };
  }
}

/** Contexts made without logs (route tests) keep them in their data dir's store, as a server without flags does. */
const fallback = new WeakMap<object, BuildLogs>();

/** The log of a build, in the server's object store (the app context's `buildLogs`). */
export function buildLog(
  ctx: { buildLogs?: BuildLogs | undefined; paths: DataPaths },
  buildId: number,
): BuildLog {
  if (ctx.buildLogs) return ctx.buildLogs.of(buildId);
  let logs = fallback.get(ctx);
  if (!logs) {
    logs = new BuildLogs(new FileObjectStore(ctx.paths.store));
    fallback.set(ctx, logs);
  }
  return logs.of(buildId);
}
