// The Storehouse on disk and in the db: NARs and narinfos under DATA_DIR/store/, indexed by `cache_paths`.
// A narinfo becomes visible only after its NAR, hashes, sizes and references were checked: it is written to
// tmp/ and renamed into place as the last step, so a reader never sees half of one.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { asc, eq, sql } from "drizzle-orm";
import { LRUCache } from "lru-cache";
import { z } from "zod";
import { DECODABLE_COMPRESSIONS, narDecompressor } from "../../lib/nar-compression.js";
import { buildNarListing, narListingJson } from "../../lib/nar-listing.js";
import { NarFormatError } from "../../lib/nar-reader.js";
import { type NarInfo, NarInfoParseError, parseNarInfo, serializeNarInfo } from "../../lib/narinfo.js";
import { encodeNix32 } from "../../lib/nix32.js";
import { listingFingerprint, signFingerprint, signNarInfo } from "../../lib/signature.js";
import { parseStorePath, parseStorePathBasename } from "../../lib/store-path.js";
import type { Db } from "../db/open.js";
import { cachePaths } from "../db/schema.js";
import { KeyedMutex } from "../git/keyed-mutex.js";
import { PayloadTooLargeError, UnsupportedCompressionError, UploadRejectedError } from "./errors.js";
import type { SigningKey } from "./keys.js";
import { DECODABLE_EXTENSIONS, NarFileName, narFileExtension, narFileHash } from "./names.js";
import { type Body, receiveSmall, receiveToTemp, sizeCap, tempName } from "./receive.js";

export const DEFAULT_LIMITS = {
  /** Real narinfos are a few hundred bytes; thousands of references still fit. */
  narinfo: 1024 * 1024,
  listing: 64 * 1024 * 1024,
  nar: 64 * 1024 * 1024 * 1024,
};

export type StorehouseLimits = typeof DEFAULT_LIMITS;

export interface StorehouseOptions {
  db: Db;
  /** DATA_DIR/store */
  dir: string;
  key: SigningKey;
  limits?: Partial<StorehouseLimits>;
}

export type PutResult = "created" | "exists";

export type CachePathRow = typeof cachePaths.$inferSelect;

// What an uploaded .ls must look like to be answered 201: enough to be a listing, not a full check (it is not
// kept: every accepted path gets the server's own, made from the verified NAR).
const UploadedListing = z.object({
  version: z.literal(1),
  root: z.object({ type: z.string() }).passthrough(),
});

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

/** About 10 MB of narinfos at ~1 KiB each. */
const NARINFO_CACHE_ENTRIES = 10_000;

export class Storehouse {
  readonly narDir: string;
  readonly narinfoDir: string;
  readonly lsDir: string;
  readonly tmpDir: string;
  /** NAR files that stopped hashing to their name, kept for a person to look at; never served. */
  readonly quarantineDir: string;
  readonly limits: StorehouseLimits;
  private readonly db: Db;
  private readonly key: SigningKey;
  private readonly locks = new KeyedMutex();
  /**
   * Accepted narinfos, newest use last. A narinfo never changes once accepted, so a copy in memory is always
   * right; only hits are kept (a miss may be uploaded a moment later). Reading the file was most of a narinfo
   * request's cost (bench/storehouse-vs-nginx.ts).
   */
  private readonly narinfoCache = new LRUCache<string, string>({ max: NARINFO_CACHE_ENTRIES });
  /** Bumped by each quarantine: a narinfo read that started before one is answered but not cached. */
  private removals = 0;

  private constructor(opts: StorehouseOptions) {
    this.db = opts.db;
    this.key = opts.key;
    this.narDir = join(opts.dir, "nar");
    this.narinfoDir = join(opts.dir, "narinfo");
    this.lsDir = join(opts.dir, "ls");
    this.tmpDir = join(opts.dir, "tmp");
    this.quarantineDir = join(opts.dir, "quarantine");
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
  }

  /** Creates the folders and clears tmp/: no upload survives a restart, so anything there is debris. */
  static async open(opts: StorehouseOptions): Promise<Storehouse> {
    const s = new Storehouse(opts);
    for (const d of [s.narDir, s.narinfoDir, s.lsDir, s.tmpDir]) await mkdir(d, { recursive: true });
    for (const f of await readdir(s.tmpDir)) await rm(join(s.tmpDir, f), { recursive: true, force: true });
    return s;
  }

  get publicKey(): string {
    return this.key.publicKey;
  }

  /** Names must be validated first (names.ts); these only join. */
  narPath(name: string): string {
    return join(this.narDir, name);
  }

  narinfoPath(hash: string): string {
    return join(this.narinfoDir, `${hash}.narinfo`);
  }

  listingPath(hash: string): string {
    return join(this.lsDir, `${hash}.ls`);
  }

  /** The server's signature of the listing (lib/signature.ts listingFingerprint); absent for older paths. */
  listingSigPath(hash: string): string {
    return join(this.lsDir, `${hash}.ls.sig`);
  }

  findPath(hash: string): CachePathRow | undefined {
    return this.db.select().from(cachePaths).where(eq(cachePaths.hash, hash)).get();
  }

  /** The signed narinfo text, or undefined when the path is not in the Storehouse. */
  async narInfoText(hash: string): Promise<string | undefined> {
    const cached = this.narinfoCache.get(hash);
    if (cached !== undefined) return cached;
    let text: string;
    const removals = this.removals;
    try {
      text = await readFile(this.narinfoPath(hash), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
    if (removals !== this.removals) return text;
    this.narinfoCache.set(hash, text);
    return text;
  }

  /**
   * Stores a NAR under its content address. The body must hash to the name: then the file can never change,
   * which is what makes its long cache lifetime and ETag true.
   */
  async putNar(name: string, body: Body): Promise<PutResult> {
    if (!NarFileName.safeParse(name).success) {
      throw new UploadRejectedError(
        "name",
        `'${name}' is not <52 nix32 characters>.nar[.br|.gz|.bz2|.xz|.zst]`,
      );
    }
    const ext = narFileExtension(name);
    if (!DECODABLE_EXTENSIONS.has(ext)) throw new UnsupportedCompressionError(ext.slice(1));
    const got = await receiveToTemp(body, this.tmpDir, this.limits.nar, "the NAR");
    try {
      const actual = encodeNix32(got.sha256);
      if (actual !== narFileHash(name)) {
        throw new UploadRejectedError(
          "body",
          `the file's sha256 is ${actual}, but its name says ${narFileHash(name)}; name a NAR by the nix32 sha256 of its (compressed) bytes`,
        );
      }
      const target = this.narPath(name);
      if (await exists(target)) {
        // Its narinfo comes next: a NAR left orphaned by an earlier try must not be swept meanwhile.
        const now = new Date();
        await utimes(target, now, now);
        return "exists";
      }
      await rename(got.file, target);
      return "created";
    } finally {
      await rm(got.file, { force: true });
    }
  }

  /** Checks an uploaded `.ls` (so garbage gets a 400) and drops it: the server makes its own at accept. */
  async putListing(hash: string, body: Body): Promise<PutResult> {
    const bytes = await receiveSmall(body, this.limits.listing, "the .ls listing");
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString("utf8"));
    } catch (err) {
      throw new UploadRejectedError("body", `the .ls listing is not JSON (${(err as Error).message})`);
    }
    if (!UploadedListing.safeParse(json).success) {
      throw new UploadRejectedError("body", 'the .ls listing is not {"version":1,"root":{...}}');
    }
    // `nix copy --to …?write-nar-listing=1` sends one; nothing of it is kept or trusted.
    return this.findPath(hash) ? "exists" : "created";
  }

  /** Verifies an uploaded narinfo against its NAR and the cache, signs it, and makes the path visible. */
  async putNarInfo(hash: string, body: Body): Promise<PutResult> {
    const text = (await receiveSmall(body, this.limits.narinfo, "the narinfo")).toString("utf8");
    let info: NarInfo;
    try {
      info = parseNarInfo(text);
    } catch (err) {
      if (err instanceof NarInfoParseError)
        throw new UploadRejectedError(err.field ?? "narinfo", err.message);
      throw err;
    }
    const release = await this.locks.acquire(hash);
    // Held from the check of the NAR until its row exists, so the orphan sweep cannot take the NAR meanwhile.
    const releaseNar = await this.locks.acquire(narLockKey(info.url));
    try {
      // An accepted path is immutable: a second upload (another builder, a retried copy) changes nothing.
      if (this.findPath(hash)) return "exists";
      const checked = await this.verify(hash, info);
      const signed = signNarInfo(checked.info, this.key.secretKey);
      await this.writeAtomically(this.listingPath(hash), checked.listing);
      const fp = listingFingerprint(signed.storePath, signed.narHash, checked.listing);
      await this.writeAtomically(this.listingSigPath(hash), signFingerprint(this.key.secretKey, fp));
      await this.writeAtomically(this.narinfoPath(hash), serializeNarInfo(signed));
      try {
        this.db
          .insert(cachePaths)
          .values({
            hash,
            storePath: signed.storePath,
            narFile: signed.url,
            narHash: signed.narHash,
            narSize: signed.narSize,
            fileSize: checked.fileSize,
            compression: signed.compression,
            references: signed.references,
            deriver: signed.deriver ?? null,
            ca: signed.ca ?? null,
            // verify() just hashed the NAR: the background check starts with the paths never checked.
            verifiedAt: new Date().toISOString(),
          })
          .onConflictDoNothing()
          .run();
      } catch (err) {
        // Without its row the path would be served but unknown to reference checks: take it back.
        await rm(this.narinfoPath(hash), { force: true });
        throw err;
      }
      return "created";
    } finally {
      releaseNar();
      release();
    }
  }

  private async verify(
    hash: string,
    info: NarInfo,
  ): Promise<{ info: NarInfo; fileSize: number; listing: string }> {
    const storePath = parseStorePath(info.storePath);
    if (storePath.hash !== hash) {
      throw new UploadRejectedError(
        "StorePath",
        `${info.storePath} has hash ${storePath.hash}, but it was uploaded as ${hash}.narinfo`,
      );
    }
    const m = /^nar\/(.*)$/.exec(info.url);
    const name = m?.[1] ?? "";
    if (!NarFileName.safeParse(name).success) {
      throw new UploadRejectedError(
        "URL",
        `'${info.url}' is not nar/<52 nix32 characters>.nar[.ext] (relative to the cache), as nix copy writes it`,
      );
    }
    if (!DECODABLE_COMPRESSIONS.has(info.compression))
      throw new UnsupportedCompressionError(info.compression);
    const narFile = this.narPath(name);
    let fileSize: number;
    try {
      fileSize = (await stat(narFile)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      throw new UploadRejectedError(
        "URL",
        `${info.url} has not been uploaded; PUT the NAR before its narinfo`,
      );
    }
    const fileHash = `sha256:${narFileHash(name)}`;
    if (info.fileHash !== undefined && info.fileHash !== fileHash) {
      throw new UploadRejectedError(
        "FileHash",
        `expected ${fileHash} (the hash of ${info.url}), got ${info.fileHash}`,
      );
    }
    if (info.fileSize !== undefined && info.fileSize !== fileSize) {
      throw new UploadRejectedError(
        "FileSize",
        `expected ${fileSize} (the size of ${info.url}), got ${info.fileSize}`,
      );
    }
    for (const ref of info.references) {
      const r = parseStorePathBasename(ref);
      if (r.hash === hash) {
        if (r.basename !== storePath.basename) {
          throw new UploadRejectedError(
            "References",
            `${ref} has this path's hash but not its name ${storePath.basename}`,
          );
        }
        continue;
      }
      const row = this.findPath(r.hash);
      if (!row || row.storePath !== `${storePath.storeDir}/${ref}`) {
        throw new UploadRejectedError(
          "References",
          `${ref} is not in the Storehouse; upload the references first (nix copy --to sends them in that order)`,
        );
      }
    }

    // Every accepted path gets its listing (with per-file hashes): the agent serves metadata from it and
    // fetches single files of big paths by Range. Made here, from the NAR just verified, never taken on trust.
    const digest = await this.readNar(narFile, info);
    const narHash = `sha256:${encodeNix32(digest.narHash)}`;
    if (digest.narSize !== info.narSize) {
      throw new UploadRejectedError(
        "NarSize",
        `expected ${digest.narSize} (the size of the NAR in ${info.url}), got ${info.narSize}`,
      );
    }
    if (narHash !== info.narHash) {
      throw new UploadRejectedError(
        "NarHash",
        `expected ${narHash} (the hash of the NAR in ${info.url}), got ${info.narHash}`,
      );
    }
    return { info: { ...info, fileHash, fileSize }, fileSize, listing: digest.listing };
  }

  /** Decompresses and validates the NAR; never more than NarSize + 1 bytes are inflated (a bomb stops there). */
  private async readNar(
    file: string,
    info: NarInfo,
  ): Promise<{ narHash: Buffer; narSize: number; listing: string }> {
    const stages: Readable[] = [createReadStream(file)];
    const inflate = narDecompressor(info.compression);
    if (inflate) stages.push(inflate);
    stages.push(sizeCap(info.narSize, "the NAR"));
    const capped = stages.reduce(
      (from, to) => from.pipe(to as unknown as NodeJS.WritableStream) as unknown as Readable,
    );
    // pipe() does not pass errors on: without this a corrupt stream would leave the reader waiting forever.
    for (const s of stages.slice(0, -1)) s.on("error", (err) => capped.destroy(err));
    try {
      const r = await buildNarListing(capped, { fileHashes: true });
      return { narHash: r.narHash, narSize: r.narSize, listing: narListingJson(r.listing) };
    } catch (err) {
      if (err instanceof PayloadTooLargeError) {
        throw new UploadRejectedError(
          "NarSize",
          `the NAR in ${info.url} is larger than NarSize ${info.narSize}`,
        );
      }
      if (err instanceof NarFormatError) {
        throw new UploadRejectedError("URL", `${info.url} is not a valid NAR: ${err.message}`);
      }
      const code = String((err as NodeJS.ErrnoException).code ?? "");
      if (inflate && /^(Z_|ERR__ERROR)/.test(code)) {
        throw new UploadRejectedError(
          "Compression",
          `${info.url} is not valid ${info.compression} data (${(err as Error).message})`,
        );
      }
      throw err;
    } finally {
      for (const s of stages) s.destroy();
    }
  }

  private async writeAtomically(target: string, data: string | Buffer): Promise<void> {
    const tmp = tempName(this.tmpDir);
    try {
      await writeFile(tmp, data, { flag: "wx", mode: 0o644 });
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** NAR files no accepted narinfo names: left by uploads that failed or were refused, safe to delete. */
  async orphanNars(): Promise<string[]> {
    const used = new Set(
      this.db
        .select({ f: cachePaths.narFile })
        .from(cachePaths)
        .all()
        .map((r) => r.f),
    );
    return (await readdir(this.narDir)).filter((f) => !used.has(`nar/${f}`));
  }

  /**
   * Deletes the NAR files no accepted narinfo names (a refused narinfo's, an upload given up) and the temp files,
   * each only when untouched for `graceMs`: a NAR whose narinfo is still on its way is younger than that (a
   * re-upload of an existing NAR refreshes its time), and a temp file being written is touched with every chunk.
   */
  async sweepOrphans(graceMs: number): Promise<{ nars: string[]; tmp: string[] }> {
    const before = Date.now() - graceMs;
    const old = async (file: string) => {
      try {
        return (await stat(file)).mtimeMs <= before;
      } catch {
        return false; // gone meanwhile
      }
    };
    const nars: string[] = [];
    for (const name of await this.orphanNars()) {
      const release = await this.locks.acquire(narLockKey(`nar/${name}`));
      try {
        // Looked at again under the lock: a narinfo naming it may have been accepted since the list was made.
        const named = this.db
          .select({ h: cachePaths.hash })
          .from(cachePaths)
          .where(eq(cachePaths.narFile, `nar/${name}`))
          .get();
        if (named || !(await old(this.narPath(name)))) continue;
        await rm(this.narPath(name), { force: true });
        nars.push(name);
      } finally {
        release();
      }
    }
    const tmp: string[] = [];
    for (const name of await readdir(this.tmpDir)) {
      if (!(await old(join(this.tmpDir, name)))) continue;
      await rm(join(this.tmpDir, name), { recursive: true, force: true });
      tmp.push(name);
    }
    return { nars, tmp };
  }

  /**
   * Re-hashes NAR files against the hash their name (the narinfo's FileHash) carries, the never-checked first, then
   * the longest unchecked, until `budgetBytes` were read (at least one file). A file that does not match, or is
   * gone, is quarantined: its paths stop being served. Disk rot or a hand edit must never reach a client or a CDN
   * as bytes signed and marked immutable.
   */
  async verifyNars(budgetBytes: number): Promise<{ checked: number; quarantined: QuarantinedNar[] }> {
    const order = this.db
      .select({ narFile: cachePaths.narFile, fileSize: sql<number>`max(${cachePaths.fileSize})` })
      .from(cachePaths)
      .groupBy(cachePaths.narFile)
      .orderBy(asc(sql`min(coalesce(${cachePaths.verifiedAt}, ''))`), asc(cachePaths.narFile))
      .all();
    let read = 0;
    let checked = 0;
    const quarantined: QuarantinedNar[] = [];
    for (const { narFile, fileSize } of order) {
      if (checked > 0 && read + fileSize > budgetBytes) break;
      read += fileSize;
      checked++;
      const name = narFile.replace(/^nar\//, "");
      let reason: string | undefined;
      try {
        const actual = await fileSha256(this.narPath(name));
        if (actual !== narFileHash(name))
          reason = `its sha256 is ${actual}, its name says ${narFileHash(name)}`;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        reason = "the file is missing";
      }
      if (reason) quarantined.push(await this.quarantine(narFile, reason));
      else
        this.db
          .update(cachePaths)
          .set({ verifiedAt: new Date().toISOString() })
          .where(eq(cachePaths.narFile, narFile))
          .run();
    }
    return { checked, quarantined };
  }

  /**
   * Moves a bad NAR file to quarantine/ and takes every path naming it out: no row (so reference checks and the
   * build queue see it missing, and a builder may upload it again), no narinfo, no listing.
   */
  private async quarantine(narFile: string, reason: string): Promise<QuarantinedNar> {
    const name = narFile.replace(/^nar\//, "");
    const release = await this.locks.acquire(narLockKey(narFile));
    try {
      await mkdir(this.quarantineDir, { recursive: true });
      try {
        await rename(this.narPath(name), join(this.quarantineDir, name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
      const rows = this.db.select().from(cachePaths).where(eq(cachePaths.narFile, narFile)).all();
      for (const row of rows) {
        // The narinfo first: from here on the path answers 404, whatever happens to the rest.
        // Bumped before and after: no read that overlapped the removal can put the narinfo back in the cache.
        this.removals++;
        await rm(this.narinfoPath(row.hash), { force: true });
        this.removals++;
        this.narinfoCache.delete(row.hash);
        await rm(this.listingPath(row.hash), { force: true });
        await rm(this.listingSigPath(row.hash), { force: true });
      }
      this.db.delete(cachePaths).where(eq(cachePaths.narFile, narFile)).run();
      return { narFile, storePaths: rows.map((r) => r.storePath), reason };
    } finally {
      release();
    }
  }
}

/** A NAR file that no longer hashes to its name (or is gone), taken out of the Storehouse. */
export interface QuarantinedNar {
  narFile: string;
  storePaths: string[];
  reason: string;
}

/** The nix32 sha256 of a file's bytes, streamed. */
async function fileSha256(file: string): Promise<string> {
  const h = createHash("sha256");
  await pipeline(createReadStream(file), h);
  return encodeNix32(h.digest());
}

/** The lock shared by a narinfo's acceptance and the orphan sweep, per NAR file (the narinfo's URL). */
function narLockKey(url: string): string {
  return `nar-file ${url}`;
}
