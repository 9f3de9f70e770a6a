// Checks an uploaded narinfo against its NAR and the accepted paths; makes the NAR's listing on the way.
import type { Readable } from "node:stream";
import { DECODABLE_COMPRESSIONS, narDecompressor } from "../../lib/nar-compression.js";
import { buildNarListing, narListingJson } from "../../lib/nar-listing.js";
import { NarFormatError } from "../../lib/nar-reader.js";
import type { NarInfo } from "../../lib/narinfo.js";
import { encodeNix32 } from "../../lib/nix32.js";
import { parseStorePath, parseStorePathBasename } from "../../lib/store-path.js";
import { PayloadTooLargeError, UnsupportedCompressionError, UploadRejectedError } from "./errors.js";
import { narKey } from "./layout.js";
import { NarFileName, narFileHash } from "./names.js";
import type { ObjectStore } from "./objects/object-store.js";
import { sizeCap } from "./receive.js";

/** What the check needs of the Storehouse: where NARs are, and which paths it holds. */
export interface UploadIndex {
  readonly objects: ObjectStore;
  findPath(hash: string): Promise<{ storePath: string } | undefined>;
}

/**
 * The narinfo as it will be signed (FileHash and FileSize filled in from the file), or an UploadRejectedError naming
 * the first field that does not match.
 */
export async function verifyUpload(
  s: UploadIndex,
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
  if (!DECODABLE_COMPRESSIONS.has(info.compression)) throw new UnsupportedCompressionError(info.compression);
  const meta = await s.objects.head(narKey(name));
  if (!meta)
    throw new UploadRejectedError("URL", `${info.url} has not been uploaded; PUT the NAR before its narinfo`);
  const fileSize = meta.size;
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
    const row = await s.findPath(r.hash);
    if (!row || row.storePath !== `${storePath.storeDir}/${ref}`) {
      throw new UploadRejectedError(
        "References",
        `${ref} is not in the Storehouse; upload the references first (nix copy --to sends them in that order)`,
      );
    }
  }

  // Every accepted path gets its listing (with per-file hashes): the agent serves metadata from it and
  // fetches single files of big paths by Range. Made here, from the NAR just verified, never taken on trust.
  const digest = await readNar(s.objects, narKey(name), info);
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
async function readNar(
  objects: ObjectStore,
  key: string,
  info: NarInfo,
): Promise<{ narHash: Buffer; narSize: number; listing: string }> {
  const got = await objects.get(key);
  if (!got)
    throw new UploadRejectedError("URL", `${info.url} vanished while it was being checked; upload it again`);
  const stages: Readable[] = [got.body];
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
