import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

// Code runs both from source (tsx) and from dist/, at different depths: find the root by its package.json.
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("flox: cannot find the project root (no package.json above this file)");
    dir = up;
  }
  return dir;
}

/** The checkout's root directory, where package.json, lib/nix/ and dist/ live. */
export const projectRoot = findRoot();

/** Where the compiled JavaScript of `relPath` (a .ts path from the root) lives. */
export function compiledPath(relPath: string): string {
  return join(projectRoot, "dist", relPath.replace(/\.ts$/, ".js"));
}

/** The Nix side of flox: the org-repo framework and the bootstrap base package set. */
export const nixDir = join(projectRoot, "lib", "nix");
/** `{ repo, base ? null, busybox ? null, system ? "x86_64-linux", only ? null }: { <pkg> = …; }` */
export const frameworkPath = join(nixDir, "framework.nix");
/** `{ repo, busybox ? null, basePath ? null, system ? …, namesJson ? null }`: per package name, system, drvPath, outputs. */
export const jobsPath = join(nixDir, "jobs.nix");
/** The bootstrap base package set: `import baseDir { busybox = <dir>; }`. */
export const baseDir = join(nixDir, "base");
