// What a server's base package set is, in a form a client can compare with its own: the bootstrap set is
// identified by a digest of flox's Nix files and the busybox binary (equal digests, equal .drv paths), a
// nixpkgs tree by its name and version.
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { nixDir } from "./project-root.js";

export type BaseSetInfo =
  | { kind: "bootstrap"; system: string; digest: string }
  | { kind: "nixpkgs"; system: string; name: string; version: string | null };

/** sha256 (hex) over framework.nix, jobs.nix, every file of base/ (by name) and the busybox binary. */
export async function bootstrapDigest(busyboxDir: string): Promise<string> {
  const hash = createHash("sha256");
  const add = async (label: string, path: string) => {
    const bytes = await readFile(path);
    hash.update(`${label}\0${bytes.length}\0`).update(bytes);
  };
  await add("framework.nix", join(nixDir, "framework.nix"));
  await add("jobs.nix", join(nixDir, "jobs.nix"));
  for (const name of (await readdir(join(nixDir, "base"))).sort())
    await add(`base/${name}`, join(nixDir, "base", name));
  await add("busybox", join(busyboxDir, "bin", "busybox"));
  return hash.digest("hex");
}

/** The base set a server or a local run uses: `basePath` (a nixpkgs tree) or the bootstrap set. */
export async function baseSetInfo(opts: {
  basePath: string | null;
  busyboxDir: string;
  system: string;
}): Promise<BaseSetInfo> {
  if (opts.basePath === null)
    return { kind: "bootstrap", system: opts.system, digest: await bootstrapDigest(opts.busyboxDir) };
  // nixpkgs keeps its version in .version (newer) or lib/.version.
  const read = (p: string) =>
    readFile(join(opts.basePath as string, p), "utf8").then(
      (t) => t.trim(),
      () => null,
    );
  const version = (await read(".version")) ?? (await read("lib/.version"));
  return { kind: "nixpkgs", system: opts.system, name: basename(opts.basePath), version };
}
