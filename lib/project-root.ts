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
