// A chroot store's closure and registrations (NAR hash, size, references, deriver) read straight from its Nix
// database in one read-only transaction: the server publishing a build's .drv closure and the builder uploading its
// outputs each used to start `nix-store`/`nix copy` processes for this, ~150 ms each on a busy 2-core machine.
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { decodeNix32, encodeNix32, isNix32 } from "./nix32.js";

/** What the store's database says of a path. */
export interface Registration {
  /** nix32 sha256 of its NAR. */
  narHash: string;
  narSize: number;
  /** Full store paths, itself included when it refers to itself. */
  references: string[];
  /** The .drv it was built by (full path), when the store knows it. */
  deriver?: string;
  /** Its content address, for content-addressed paths. */
  ca?: string;
}

/** A path asked for is not valid in the store (missing, or still being written), or the database is not Nix's. */
export class StoreRegistrationError extends Error {
  override name = "StoreRegistrationError";
}

/** How long a read waits for a Nix process holding a write lock (WAL readers rarely wait at all). */
const BUSY_MS = 10_000;

/** Nix writes `sha256:<base16>`; very old stores `sha256:<nix32>`. Both become nix32, as narinfos carry it. */
function nix32Sha256(dbHash: string, path: string): string {
  const [algo, digest = ""] = dbHash.split(":");
  if (algo === "sha256" && /^[0-9a-f]{64}$/.test(digest)) return encodeNix32(Buffer.from(digest, "hex"));
  if (algo === "sha256" && isNix32(digest, 32)) return encodeNix32(decodeNix32(digest));
  throw new StoreRegistrationError(
    `the Nix database gives ${path} an unexpected hash ${JSON.stringify(dbHash)}`,
  );
}

/**
 * The closure of `paths` in the chroot store at `storeRoot`, each path with its registration. Throws
 * StoreRegistrationError when one of `paths` is not valid there.
 */
export function closureRegistrations(storeRoot: string, paths: readonly string[]): Map<string, Registration> {
  const file = join(storeRoot, "nix", "var", "nix", "db", "db.sqlite");
  if (!existsSync(file)) throw new StoreRegistrationError(`${storeRoot} has no Nix database (${file})`);
  // Read-only beside the Nix processes writing it: Nix keeps its database in WAL mode, so this reads a consistent
  // snapshot and never blocks them.
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: BUSY_MS });
  try {
    const read = db.transaction(() => {
      const roots = db.prepare("select path from ValidPaths where path = ?");
      for (const p of paths) {
        if (!roots.get(p)) throw new StoreRegistrationError(`${p} is not a valid path in ${storeRoot}`);
      }
      const seeds = paths.map(() => "?").join(",");
      const closure = `with recursive closure(id) as (
          select id from ValidPaths where path in (${seeds})
          union
          select r.reference from Refs r join closure c on r.referrer = c.id)`;
      const rows = db
        .prepare(
          `${closure} select v.id as id, v.path as path, v.hash as hash, v.narSize as narSize,
             v.deriver as deriver, v.ca as ca
           from ValidPaths v join closure c on c.id = v.id`,
        )
        .all(...paths) as {
        id: number;
        path: string;
        hash: string;
        narSize: number | null;
        deriver: string | null;
        ca: string | null;
      }[];
      const refs = db
        .prepare(
          `${closure} select r.referrer as referrer, v.path as path
           from Refs r join closure c on c.id = r.referrer join ValidPaths v on v.id = r.reference`,
        )
        .all(...paths) as { referrer: number; path: string }[];
      return { rows, refs };
    });
    const { rows, refs } = read();
    const byId = new Map<number, string[]>();
    for (const r of refs) {
      const list = byId.get(r.referrer);
      if (list) list.push(r.path);
      else byId.set(r.referrer, [r.path]);
    }
    const out = new Map<string, Registration>();
    for (const row of rows) {
      if (row.narSize === null || !Number.isSafeInteger(row.narSize))
        throw new StoreRegistrationError(`the Nix database has no NAR size for ${row.path}`);
      out.set(row.path, {
        narHash: nix32Sha256(row.hash, row.path),
        narSize: row.narSize,
        references: (byId.get(row.id) ?? []).sort(),
        ...(row.deriver ? { deriver: row.deriver } : {}),
        ...(row.ca ? { ca: row.ca } : {}),
      });
    }
    return out;
  } catch (err) {
    if (err instanceof StoreRegistrationError) throw err;
    throw new StoreRegistrationError(`reading the Nix database ${file}: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}
