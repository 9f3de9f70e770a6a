// The server's own chroot store (DATA_DIR/nix-root) collected by Nix's GC, with roots for what the server still
// needs there: the .drv files of builds waiting or running (published to builders at claim) and the live profile
// environments. Skipped while an evaluation runs: between nix-instantiate's exit and its builds' rows, the .drvs it
// wrote are held by nothing.
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { execa } from "execa";
import type { Db } from "../../db/open.js";
import { evaluations } from "../../db/tables.js";
import { hashPart } from "./closure.js";

export interface NixRootResult {
  /** Why it did not run (an evaluation was running), or null. */
  skipped: string | null;
  paths: number;
  bytes: number;
}

const BYTES = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 } as Record<string, number>;

/** Replaces DIR/nix-root/nix/var/nix/gcroots/flox with one symlink per root (made aside, then renamed in). */
async function writeRoots(storeRoot: string, roots: Iterable<string>): Promise<void> {
  const parent = join(storeRoot, "nix", "var", "nix", "gcroots");
  await mkdir(parent, { recursive: true });
  const fresh = await mkdtemp(join(parent, ".flox-"));
  const seen = new Set<string>();
  for (const r of roots) {
    const base = r.slice(r.lastIndexOf("/") + 1);
    if (!hashPart(r) || seen.has(base)) continue;
    seen.add(base);
    await symlink(`/nix/store/${base}`, join(fresh, base));
  }
  const target = join(parent, "flox");
  const old = `${target}.old-${process.pid}`;
  await rename(target, old).catch(() => undefined);
  await rename(fresh, target);
  await rm(old, { recursive: true, force: true });
}

export async function collectNixRoot(
  db: Db,
  storeRoot: string,
  roots: Iterable<string>,
  dryRun: boolean,
): Promise<NixRootResult> {
  const busy = await db
    .select({ id: evaluations.id })
    .from(evaluations)
    .where(eq(evaluations.state, "running"));
  if (busy.length > 0) return { skipped: "an evaluation is running", paths: 0, bytes: 0 };
  await writeRoots(storeRoot, roots);
  const home = await mkdtemp(join(tmpdir(), "flox-gc-nix-"));
  try {
    await writeFile(join(home, "nix.conf"), "substituters =\n");
    const r = await execa("nix-store", ["--store", storeRoot, "--gc", ...(dryRun ? ["--print-dead"] : [])], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: home,
        XDG_CACHE_HOME: join(home, "cache"),
        NIX_CONF_DIR: home,
        NIX_USER_CONF_FILES: join(home, "nix.conf"),
        NIX_PATH: "",
      },
      extendEnv: false,
      reject: false,
      stdin: "ignore",
      timeout: 3_600_000,
      maxBuffer: 256 * 1024 * 1024,
    });
    if (r.exitCode !== 0)
      throw new Error(`nix-store --gc in ${storeRoot} failed: ${String(r.stderr).trim()}`);
    if (dryRun) {
      const dead = String(r.stdout)
        .split("\n")
        .filter((l) => l.startsWith("/"));
      return { skipped: null, paths: dead.length, bytes: 0 };
    }
    // "3 store paths deleted, 0.12 MiB freed"
    const m = /([0-9]+) store paths deleted, ([0-9.]+) (B|KiB|MiB|GiB|TiB) freed/.exec(
      String(r.stderr) + String(r.stdout),
    );
    return {
      skipped: null,
      paths: m ? Number(m[1]) : 0,
      bytes: m ? Math.round(Number(m[2]) * (BYTES[m[3] ?? "B"] ?? 1)) : 0,
    };
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
