// Puts the .drv closure of a build (the .drv, its input .drvs, and sources such as busybox) into the
// Storehouse, read from the server's chroot store DIR/nix-root, so that builders can substitute it.
// Each path goes through the Storehouse's own verified upload (putNar + putNarInfo): NarHash, NarSize and
// references are checked exactly as for a `nix copy --to` upload, and the narinfo is signed the same way.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { diesWithParent } from "../../lib/dies-with-parent.js";
import { narStream } from "../../lib/nar-writer.js";
import { serializeNarInfo } from "../../lib/narinfo.js";
import { isolatedNixEnv } from "../../lib/nix-isolated-env.js";
import { encodeNix32 } from "../../lib/nix32.js";
import { parseStorePath } from "../../lib/store-path.js";
import type { Storehouse } from "../storehouse/store.js";

export interface PublishDrvsOptions {
  storehouse: Storehouse;
  /** The chroot store the evaluator wrote into: DATA_DIR/nix-root. */
  storeRoot: string;
  /** Aborted at server shutdown: the running query is killed and nothing more is started. */
  signal?: AbortSignal;
}

export interface PublishResult {
  /** Paths of the closure uploaded now. */
  uploaded: number;
  /** Paths of the closure the Storehouse held already. */
  present: number;
}

/** A Nix query against the chroot store failed (the .drv is missing, say). */
export class PublishDrvsError extends Error {
  override name = "PublishDrvsError";
}

/** nix-store's output lines, blank ones included (a --dump-db record has one for a missing deriver). */
async function nixStore(storeRoot: string, args: string[], signal?: AbortSignal): Promise<string[]> {
  signal?.throwIfAborted();
  const dir = await mkdtemp(join(tmpdir(), "flox-publish-"));
  try {
    const { env } = await isolatedNixEnv({ dir, conf: ["substituters ="] });
    // Killed with the server, even by kill -9: it writes into the data dir.
    const cmd = diesWithParent("nix-store", ["--store", storeRoot, ...args]);
    const r = await execa(cmd.file, cmd.args, {
      env,
      extendEnv: false,
      reject: false,
      stdin: "ignore",
      timeout: 120_000,
      maxBuffer: 64 * 1024 * 1024,
      ...(signal ? { cancelSignal: signal } : {}),
    });
    signal?.throwIfAborted();
    if (r.exitCode !== 0) {
      throw new PublishDrvsError(`nix-store ${args.join(" ")} failed: ${String(r.stderr).trim()}`);
    }
    const out = String(r.stdout);
    return out === "" ? [] : out.replace(/\n$/, "").split("\n");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What the chroot store's database says of a path. */
interface Registration {
  /** nix32 sha256 of its NAR. */
  narHash: string;
  narSize: number;
  references: string[];
}

/**
 * The registration of each of `paths`, from one `nix-store --dump-db` (records of path, hex NAR hash, NAR size,
 * deriver, count, references): one process for a whole closure, not one per path, and no second read of the
 * files to hash them. The Storehouse checks both figures against the NAR it is sent.
 */
async function registrationsOf(
  storeRoot: string,
  paths: string[],
  signal?: AbortSignal,
): Promise<Map<string, Registration>> {
  const lines = await nixStore(storeRoot, ["--dump-db", ...paths], signal);
  const regs = new Map<string, Registration>();
  for (let i = 0; i < lines.length; ) {
    const path = lines[i] as string;
    const hash = lines[i + 1] ?? "";
    const narSize = Number(lines[i + 2]);
    const count = Number(lines[i + 4]);
    if (
      !path.startsWith("/") ||
      !/^[0-9a-f]{64}$/.test(hash) ||
      !Number.isSafeInteger(narSize) ||
      !Number.isInteger(count)
    ) {
      throw new PublishDrvsError(`nix-store --dump-db gave an unexpected record at line ${i + 1}: ${path}`);
    }
    regs.set(path, {
      narHash: encodeNix32(Buffer.from(hash, "hex")),
      narSize,
      references: lines.slice(i + 5, i + 5 + count),
    });
    i += 5 + count;
  }
  for (const p of paths) {
    if (!regs.has(p)) throw new PublishDrvsError(`nix-store --dump-db did not list ${p}`);
  }
  return regs;
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
 * Makes sure every path in the closure of `drvPaths` (full `/nix/store/…` paths in `storeRoot`) is in the
 * Storehouse. Idempotent and safe to run concurrently with itself (the Storehouse locks per path).
 */
export async function publishDrvClosure(
  opts: PublishDrvsOptions,
  drvPaths: readonly string[],
): Promise<PublishResult> {
  if (drvPaths.length === 0) return { uploaded: 0, present: 0 };
  const closure = (
    await nixStore(opts.storeRoot, ["--query", "--requisites", ...drvPaths], opts.signal)
  ).filter((p) => p !== "");
  const missing: string[] = [];
  for (const p of closure) if (!(await opts.storehouse.findPath(parseStorePath(p).hash))) missing.push(p);
  if (missing.length === 0) return { uploaded: 0, present: closure.length };
  const regs = await registrationsOf(opts.storeRoot, missing, opts.signal);
  const refs = new Map([...regs].map(([p, r]) => [p, r.references]));
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
  return { uploaded, present: closure.length - uploaded };
}
