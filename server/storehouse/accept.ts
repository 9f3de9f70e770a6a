// Upload acceptance: a NAR under its content address, a listing checked and dropped, a narinfo made visible.
// Nothing is visible before it was verified: a NAR lands under a temporary key and moves to its name only once
// it hashes to it; a path exists for readers once its row is in the database, the last step.
import { z } from "zod";
import { type NarInfo, NarInfoParseError, parseNarInfo, serializeNarInfo } from "../../lib/narinfo.js";
import { encodeNix32 } from "../../lib/nix32.js";
import { listingFingerprint, signFingerprint, signNarInfo } from "../../lib/signature.js";
import type { Db } from "../db/open.js";
import { cachePaths } from "../db/tables.js";
import type { KeyedMutex } from "../git/keyed-mutex.js";
import { UnsupportedCompressionError, UploadRejectedError } from "./errors.js";
import type { GcGate } from "./gc/gate.js";
import type { SigningKey } from "./keys.js";
import { listingKey, listingSigKey, narinfoKey, narKey } from "./layout.js";
import { DECODABLE_EXTENSIONS, NarFileName, narFileExtension, narFileHash } from "./names.js";
import { narLockKey } from "./nar-lock.js";
import { type Body, receiveSmall, receiveToTemp } from "./receive.js";
import { type UploadIndex, verifyUpload } from "./verify-upload.js";

export type PutResult = "created" | "exists";

/**
 * What the server checks of an upload before it is accepted (gc/quota.ts): may refuse it (an org over its quota),
 * and returns what to record once the path's row exists.
 */
export interface UploadAdmission {
  admit(info: NarInfo, fileSize: number): Promise<(hash: string) => Promise<void>>;
}

/** What acceptance needs of the Storehouse (store.ts): its object store, limits, key, locks and index. */
export interface AcceptStore extends UploadIndex {
  readonly db: Db;
  readonly key: SigningKey;
  readonly locks: KeyedMutex;
  readonly gate: GcGate;
  readonly access: { touch(hash: string): void };
  readonly admission: UploadAdmission | undefined;
  readonly limits: { narinfo: number; listing: number; nar: number };
}

// What an uploaded .ls must look like to be answered 201: enough to be a listing, not a full check (it is not
// kept: every accepted path gets the server's own, made from the verified NAR).
const UploadedListing = z.object({
  version: z.literal(1),
  root: z.object({ type: z.string() }).passthrough(),
});

/**
 * Stores a NAR under its content address. The body must hash to the name: then the file can never change,
 * which is what makes its long cache lifetime and ETag true.
 */
export async function putNar(s: AcceptStore, name: string, body: Body): Promise<PutResult> {
  if (!NarFileName.safeParse(name).success) {
    throw new UploadRejectedError(
      "name",
      `'${name}' is not <52 nix32 characters>.nar[.br|.gz|.bz2|.xz|.zst]`,
    );
  }
  const ext = narFileExtension(name);
  if (!DECODABLE_EXTENSIONS.has(ext)) throw new UnsupportedCompressionError(ext.slice(1));
  const got = await receiveToTemp(body, s.objects, s.limits.nar, "the NAR");
  try {
    const actual = encodeNix32(got.sha256);
    if (actual !== narFileHash(name)) {
      throw new UploadRejectedError(
        "body",
        `the file's sha256 is ${actual}, but its name says ${narFileHash(name)}; name a NAR by the nix32 sha256 of its (compressed) bytes`,
      );
    }
    const existed = (await s.objects.head(narKey(name))) !== undefined;
    // Moved even when it existed: the same bytes with a fresh time, so that a NAR left orphaned by an earlier try
    // is not swept while its narinfo is on its way.
    await s.objects.move(got.key, narKey(name));
    return existed ? "exists" : "created";
  } catch (err) {
    await s.objects.delete(got.key).catch(() => undefined);
    throw err;
  }
}

/** Checks an uploaded `.ls` (so garbage gets a 400) and drops it: the server makes its own at accept. */
export async function putListing(s: AcceptStore, hash: string, body: Body): Promise<PutResult> {
  const bytes = await receiveSmall(body, s.limits.listing, "the .ls listing");
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
  return (await s.findPath(hash)) ? "exists" : "created";
}

/** Verifies an uploaded narinfo against its NAR and the cache, signs it, and makes the path visible. */
export async function putNarInfo(s: AcceptStore, hash: string, body: Body): Promise<PutResult> {
  const text = (await receiveSmall(body, s.limits.narinfo, "the narinfo")).toString("utf8");
  let info: NarInfo;
  try {
    info = parseNarInfo(text);
  } catch (err) {
    if (err instanceof NarInfoParseError) throw new UploadRejectedError(err.field ?? "narinfo", err.message);
    throw err;
  }
  const release = await s.locks.acquire(hash);
  // Held from the check of the NAR until its row exists, so the orphan sweep cannot take the NAR meanwhile.
  const releaseNar = await s.locks.acquire(narLockKey(info.url));
  let releaseGate: (() => void) | undefined;
  try {
    // An accepted path is immutable: a second upload (another builder, a retried copy) changes nothing. Noted as
    // an access, so a GC running now keeps it: the uploader goes on as if it were there.
    if (await s.findPath(hash)) {
      s.access.touch(hash);
      return "exists";
    }
    const checked = await verifyUpload(s, hash, info);
    // Shared with other uploads, taken once the NAR is verified; a GC batch holds it alone. The references are looked
    // at again under it: none can be collected between this look and the row.
    releaseGate = await s.gate.acquireShared();
    await requireReferences(s, hash, checked.info);
    const recordAdmitted = await s.admission?.admit(checked.info, checked.fileSize);
    const signed = signNarInfo(checked.info, s.key.secretKey);
    await s.objects.put(listingKey(hash), checked.listing);
    const fp = listingFingerprint(signed.storePath, signed.narHash, checked.listing);
    await s.objects.put(listingSigKey(hash), signFingerprint(s.key.secretKey, fp));
    await s.objects.put(narinfoKey(hash), serializeNarInfo(signed));
    try {
      await s.db
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
        .onConflictDoNothing();
    } catch (err) {
      // Without its row the path does not exist for anyone: its narinfo goes too (else the sweep takes it later).
      await s.objects.delete(narinfoKey(hash)).catch(() => undefined);
      throw err;
    }
    await recordAdmitted?.(hash);
    return "created";
  } finally {
    releaseGate?.();
    releaseNar();
    release();
  }
}

/** verifyUpload checked them before the NAR was read; a GC may have run since. */
async function requireReferences(s: AcceptStore, hash: string, info: NarInfo): Promise<void> {
  for (const ref of info.references) {
    if (ref.startsWith(hash) || (await s.findPath(ref.slice(0, 32)))) continue;
    throw new UploadRejectedError(
      "References",
      `${ref} is not in the Storehouse (collected while this upload was checked); upload it again, then this path`,
    );
  }
}
