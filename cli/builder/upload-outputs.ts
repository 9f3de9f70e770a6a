// A build's outputs into the Storehouse from the builder's own process: what `nix copy --to SERVER/cache` did, minus
// its process start and its store set-up (~100–150 ms a build on an idle 2-core machine, more under load). The
// registrations come from the chroot store's database, the NARs from lib/nar-writer; the Storehouse checks each
// upload exactly as it checks nix copy's (NarHash, NarSize, references present) and signs it.
import { createHash } from "node:crypto";
import { openAsBlob } from "node:fs";
import { type FileHandle, mkdir, mkdtemp, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { narStream } from "../../lib/nar-writer.js";
import { serializeNarInfo } from "../../lib/narinfo.js";
import { closureRegistrations, type Registration } from "../../lib/nix-store-db.js";
import { encodeNix32 } from "../../lib/nix32.js";
import { parseStorePath } from "../../lib/store-path.js";

/** What the upload needs of the builder: its store, the server it talks to now, and its token. */
export interface UploadTarget {
  store: string;
  server: string;
  token: string;
}

/** Narinfo look-ups in flight at once (nix copy asks its whole closure at once too). */
const LOOKUPS = 8;
/** A NAR up to this size is kept in memory; a bigger one goes to a temp file under the store. */
const IN_MEMORY_BYTES = 8 * 1024 * 1024;

/**
 * Where a NAR goes before its PUT, once checked against its registration (a damaged store is told as such, not as
 * the server's refusal): memory while it is small — most outputs are, and a temp file costs a few file-system
 * round trips each — else a file in `tmpRoot`.
 */
class NarSink extends Writable {
  #chunks: Buffer[] = [];
  #held = 0;
  #dir: string | undefined;
  #file: FileHandle | undefined;
  constructor(private readonly tmpRoot: string) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#take(chunk).then(() => done(), done);
  }
  override _final(done: (err?: Error | null) => void): void {
    (this.#file ? this.#file.close() : Promise.resolve()).then(() => done(), done);
  }
  async #take(chunk: Buffer): Promise<void> {
    if (!this.#file && this.#held + chunk.length <= IN_MEMORY_BYTES) {
      this.#chunks.push(chunk);
      this.#held += chunk.length;
      return;
    }
    if (!this.#file) {
      await mkdir(this.tmpRoot, { recursive: true });
      this.#dir = await mkdtemp(join(this.tmpRoot, "upload-"));
      this.#file = await open(join(this.#dir, "nar"), "w");
      for (const c of this.#chunks.splice(0)) await this.#file.write(c);
    }
    await this.#file.write(chunk);
  }
  /** The bytes as a request body. */
  async body(): Promise<Blob> {
    return this.#dir ? openAsBlob(join(this.#dir, "nar")) : new Blob(this.#chunks);
  }
  async cleanup(): Promise<void> {
    await this.#file?.close().catch(() => {});
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
  }
}

/**
 * The Storehouse refused or failed an upload: the build's attempt ends as an infrastructure error, unless `serverAway`
 * (no answer, or a 5xx) and the server comes back while the lease lasts.
 */
export class UploadError extends Error {
  override name = "UploadError";
  constructor(
    message: string,
    readonly serverAway = false,
  ) {
    super(message);
  }
}

/** The error for an answer that is not ok: a 5xx says the server is away for now, a 4xx that it refuses. */
async function refusal(what: string, res: Response): Promise<UploadError> {
  return new UploadError(`${what}: HTTP ${res.status}: ${(await res.text()).trim()}`, res.status >= 500);
}

/** References first: the Storehouse accepts a path only once all it refers to is there. */
function referencesFirst(regs: Map<string, Registration>, paths: string[]): string[] {
  const wanted = new Set(paths);
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (p: string) => {
    if (seen.has(p)) return;
    seen.add(p);
    for (const r of regs.get(p)?.references ?? []) if (r !== p && wanted.has(r)) visit(r);
    out.push(p);
  };
  for (const p of [...paths].sort()) visit(p);
  return out;
}

async function send(url: string, init: RequestInit, what: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    throw new UploadError(
      `${what}: ${(err as Error).message}${err instanceof Error && err.cause ? ` (${String(err.cause)})` : ""}`,
      true,
    );
  }
  return res;
}

/** Which of `paths` the Storehouse lacks, by their narinfos (a hit is answered from the server's memory). */
async function missingOf(t: UploadTarget, paths: string[], signal: AbortSignal): Promise<string[]> {
  const missing: string[] = [];
  const queue = [...paths];
  const ask = async () => {
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
      const url = `${t.server}/cache/${parseStorePath(p).hash}.narinfo`;
      const res = await send(url, { headers: { authorization: `Bearer ${t.token}` }, signal }, `GET ${url}`);
      await res.body?.cancel();
      if (res.status === 404) missing.push(p);
      else if (!res.ok) throw new UploadError(`GET ${url}: HTTP ${res.status}`, res.status >= 500);
    }
  };
  await Promise.all(Array.from({ length: Math.min(LOOKUPS, paths.length) }, ask));
  return missing;
}

/**
 * The NAR of `path` into `sink`, uncompressed: on the LAN between builders and servers `none` is bench/README.md's
 * measured choice (brotli costs a build more CPU than the wire saves; Nix 2.8's br is quality 11, minutes for a
 * big output), and the agent's one-file fetch can Range into it. Its hash and size are checked against the
 * database's.
 */
async function readNar(path: string, reg: Registration, sink: NarSink, signal: AbortSignal): Promise<void> {
  const nar = createHash("sha256");
  let narSize = 0;
  await pipeline(
    narStream(path),
    new Transform({
      transform(chunk: Buffer, _enc, done) {
        nar.update(chunk);
        narSize += chunk.length;
        done(null, chunk);
      },
    }),
    sink,
    { signal },
  );
  const narHash = encodeNix32(nar.digest());
  if (narHash !== reg.narHash || narSize !== reg.narSize) {
    throw new UploadError(
      `${path} is not what the store registered (NAR sha256:${narHash}, ${narSize} bytes; registered sha256:${reg.narHash}, ${reg.narSize} bytes): the store is damaged`,
    );
  }
}

/**
 * Puts `outputs` (full store paths, valid in the builder's store) and whatever of their closure the Storehouse
 * lacks into the Storehouse at `t.server`. Rejects with UploadError when a path cannot be read or is refused.
 */
export async function uploadOutputs(t: UploadTarget, outputs: string[], signal: AbortSignal): Promise<void> {
  let regs: Map<string, Registration>;
  try {
    regs = closureRegistrations(t.store, outputs);
  } catch (err) {
    throw new UploadError((err as Error).message);
  }
  const missing = await missingOf(t, [...regs.keys()], signal);
  if (missing.length === 0) return;
  const tmpRoot = join(t.store, ".flox-builder", "tmp");
  for (const p of referencesFirst(regs, missing)) {
    const reg = regs.get(p) as Registration;
    const sink = new NarSink(tmpRoot);
    try {
      await readNar(join(t.store, p), reg, sink, signal);
      const narUrl = `nar/${reg.narHash}.nar`;
      const auth = { authorization: `Bearer ${t.token}` };
      const putNar = await send(
        `${t.server}/cache/${narUrl}`,
        {
          method: "PUT",
          headers: { ...auth, "content-type": "application/x-nix-nar" },
          body: await sink.body(),
          signal,
        },
        `PUT ${narUrl}`,
      );
      if (!putNar.ok) throw await refusal(`PUT ${narUrl}`, putNar);
      await sink.cleanup();
      const base = (x: string) => x.slice(x.lastIndexOf("/") + 1);
      const text = serializeNarInfo({
        storePath: p,
        url: narUrl,
        compression: "none",
        fileHash: `sha256:${reg.narHash}`,
        fileSize: reg.narSize,
        narHash: `sha256:${reg.narHash}`,
        narSize: reg.narSize,
        references: reg.references.map(base).sort(),
        ...(reg.deriver ? { deriver: base(reg.deriver) } : {}),
        ...(reg.ca ? { ca: reg.ca } : {}),
        sigs: [],
      });
      const name = `${parseStorePath(p).hash}.narinfo`;
      const putInfo = await send(
        `${t.server}/cache/${name}`,
        { method: "PUT", headers: { ...auth, "content-type": "text/x-nix-narinfo" }, body: text, signal },
        `PUT ${name}`,
      );
      if (!putInfo.ok) throw await refusal(`PUT ${name} (${p})`, putInfo);
    } finally {
      await sink.cleanup();
    }
  }
}
