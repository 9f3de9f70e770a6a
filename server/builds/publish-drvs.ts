// Puts the .drv closure of a build (the .drv, its input .drvs, and sources such as busybox) into the
// Storehouse, read from the server's chroot store DIR/nix-root, so that builders can substitute it.
// Each path goes through the Storehouse's own verified upload (putNar + putNarInfo): NarHash, NarSize and
// references are checked exactly as for a `nix copy --to` upload, and the narinfo is signed the same way.
import { join } from "node:path";
import { narStream } from "../../lib/nar-writer.js";
import { serializeNarInfo } from "../../lib/narinfo.js";
import { closureRegistrations, type Registration, StoreRegistrationError } from "../../lib/nix-store-db.js";
import { parseStorePath } from "../../lib/store-path.js";
import type { Storehouse } from "../storehouse/store.js";

export interface PublishDrvsOptions {
  storehouse: Storehouse;
  /** The chroot store the evaluator wrote into: DATA_DIR/nix-root. */
  storeRoot: string;
  /** Aborted at server shutdown: nothing more is uploaded. */
  signal?: AbortSignal;
}

export interface PublishResult {
  /** Paths of the closure uploaded now. */
  uploaded: number;
  /** Paths of the closure the Storehouse held already. */
  present: number;
}

/** The chroot store could not say what the closure is (the .drv is missing, say). */
export class PublishDrvsError extends Error {
  override name = "PublishDrvsError";
}

/** References first: the Storehouse accepts a path only once all it refers to is there. */
function topoOrder(refs: Map<string, string[]>): string[] {
  const out: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (p: string) => {
    if (state.get(p)) return;
    state.set(p, "visiting");
    for (const r of refs.get(p) ?? []) if (r !== p && refs.has(r)) visit(r);
    state.set(p, "done");
    out.push(p);
  };
  for (const p of [...refs.keys()].sort()) visit(p);
  return out;
}

/**
 * Publications under way, by store root and .drv: a claim that arrives while the evaluator is still publishing its
 * build's closure waits for that one instead of doing the same uploads beside it on the same cores.
 */
const publishing = new Map<string, Promise<unknown>>();
const underWay = (storeRoot: string, drvPath: string) => `${storeRoot}\0${drvPath}`;

/**
 * Makes sure every path in the closure of `drvPaths` (full `/nix/store/…` paths in `storeRoot`) is in the
 * Storehouse. Idempotent and safe to run concurrently with itself (the Storehouse locks per path).
 */
export async function publishDrvClosure(
  opts: PublishDrvsOptions,
  drvPaths: readonly string[],
): Promise<PublishResult> {
  if (drvPaths.length === 0) return { uploaded: 0, present: 0 };
  const keys = drvPaths.map((p) => underWay(opts.storeRoot, p));
  const earlier = keys.flatMap((k) => publishing.get(k) ?? []);
  // Whatever became of those (done, failed, aborted), what is left is checked and done here.
  if (earlier.length > 0) await Promise.allSettled(earlier);
  const done = publish(opts, drvPaths);
  for (const k of keys) publishing.set(k, done);
  try {
    return await done;
  } finally {
    for (const k of keys) if (publishing.get(k) === done) publishing.delete(k);
  }
}

async function publish(opts: PublishDrvsOptions, drvPaths: readonly string[]): Promise<PublishResult> {
  opts.signal?.throwIfAborted();
  let regs: Map<string, Registration>;
  try {
    regs = closureRegistrations(opts.storeRoot, drvPaths);
  } catch (err) {
    if (err instanceof StoreRegistrationError) throw new PublishDrvsError(err.message);
    throw err;
  }
  const present = await opts.storehouse.presentHashes([...regs.keys()].map((p) => parseStorePath(p).hash));
  const missing = [...regs.keys()].filter((p) => !present.has(parseStorePath(p).hash));
  if (missing.length === 0) return { uploaded: 0, present: regs.size };
  const refs = new Map(missing.map((p) => [p, (regs.get(p) as Registration).references]));
  let uploaded = 0;
  for (const p of topoOrder(refs)) {
    opts.signal?.throwIfAborted();
    const sp = parseStorePath(p);
    if (await opts.storehouse.findPath(sp.hash)) continue;
    const { narHash, narSize, references } = regs.get(p) as Registration;
    // Uncompressed: the file hash is the NAR hash, so the database names the file.
    const fileName = `${narHash}.nar`;
    await opts.storehouse.putNar(fileName, narStream(join(opts.storeRoot, p)));
    const text = serializeNarInfo({
      storePath: p,
      url: `nar/${fileName}`,
      compression: "none",
      fileHash: `sha256:${narHash}`,
      fileSize: narSize,
      narHash: `sha256:${narHash}`,
      narSize,
      references: references.map((r) => r.slice(r.lastIndexOf("/") + 1)).sort(),
      sigs: [],
    });
    if ((await opts.storehouse.putNarInfo(sp.hash, Buffer.from(text))) === "created") uploaded++;
  }
  return { uploaded, present: regs.size - uploaded };
}
