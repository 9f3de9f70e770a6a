// The nixexprs checkout a local command runs in: its root, its packages, and its cache directory.
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { CliError } from "../output.js";

/** Where local commands keep their chroot store, busybox and build trees (gitignored by `flox init`). */
export const CACHE_DIR_NAME = ".flox";

export interface Checkout {
  root: string;
  /** `ROOT/.flox`, created on first use. */
  cacheDir: string;
}

/** The git work tree around `cwd`, or null outside one. */
export async function findGitRoot(cwd: string): Promise<string | null> {
  const r = await execa("git", ["rev-parse", "--show-toplevel"], { cwd, reject: false });
  return r.exitCode === 0 ? String(r.stdout).trim() : null;
}

/** The checkout around `cwd`; a CliError naming what to do outside one. */
export async function requireCheckout(cwd: string): Promise<Checkout> {
  const root = await findGitRoot(cwd);
  if (!root) {
    throw new CliError(
      `${cwd} is not in a git checkout: run it in a clone of your org's nixexprs repo (flox init --org ORG makes one)`,
    );
  }
  const cacheDir = join(root, CACHE_DIR_NAME);
  await mkdir(cacheDir, { recursive: true });
  // Ignored by git from inside, so `git add -A` never takes the cache, whatever the repo's .gitignore says.
  await writeFile(join(cacheDir, ".gitignore"), "# flox's local cache: never committed\n*\n", {
    flag: "wx",
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "EEXIST") throw err;
  });
  return { root, cacheDir };
}

/** The package directories under ROOT/pkgs, sorted (a missing pkgs/ has none). */
export async function listPackages(root: string): Promise<string[]> {
  const entries = await readdir(join(root, "pkgs"), { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** The package directories under ROOT/pkgs that hold a default.nix already. */
export async function listPackagesWithDefault(root: string): Promise<string[]> {
  const names = await listPackages(root);
  const has = await Promise.all(
    names.map((n) =>
      stat(join(root, "pkgs", n, "default.nix")).then(
        () => true,
        () => false,
      ),
    ),
  );
  return names.filter((_, i) => has[i]);
}

/** Whether `root` looks like a nixexprs checkout: a pkgs/ directory, or a remote named …/nixexprs.git. */
export async function isNixexprsCheckout(root: string): Promise<boolean> {
  if ((await stat(join(root, "pkgs")).catch(() => null))?.isDirectory()) return true;
  const r = await execa("git", ["remote", "-v"], { cwd: root, reject: false });
  return /\/nixexprs(\.git)?\s/.test(String(r.stdout));
}
