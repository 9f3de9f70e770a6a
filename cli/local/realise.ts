// `nix-store --realise` in the checkout's chroot store, isolated from the host's Nix configuration,
// with the build log passed through as it comes.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { isolatedNixEnv } from "../../lib/nix-isolated-env.js";

export interface RealiseResult {
  ok: boolean;
  exitCode: number | undefined;
  /** The GC roots Nix printed: links under CACHE_DIR/results to the outputs' /nix/store paths. */
  roots: string[];
}

/** Builds `drvPath` in the chroot store at `storeRoot`; the log goes to `log` (the user's stderr). */
export async function realise(
  storeRoot: string,
  cacheDir: string,
  drvPath: string,
  rootName: string,
  log: NodeJS.WritableStream,
): Promise<RealiseResult> {
  // Offline and self-contained: the base set's inputs are built here (busybox comes from a local file),
  // fetchurl sources are downloaded by Nix itself.
  const { env } = await isolatedNixEnv({
    dir: join(cacheDir, "nix"),
    inheritHost: true,
    conf: ["substituters =", "sandbox = false", "build-users-group =", "connect-timeout = 5"],
  });
  // A GC root per package (.flox/results/NAME → its output), so a local `nix-store --gc` keeps the latest build.
  const results = join(cacheDir, "results");
  await mkdir(results, { recursive: true });
  const child = execa(
    "nix-store",
    ["--store", storeRoot, "--realise", drvPath, "--add-root", join(results, rootName), "--indirect"],
    {
      env,
      extendEnv: false,
      reject: false,
      stdin: "ignore",
    },
  );
  child.stderr?.pipe(log, { end: false });
  const r = await child;
  const roots = String(r.stdout)
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("/"));
  return { ok: r.exitCode === 0, exitCode: r.exitCode, roots };
}
