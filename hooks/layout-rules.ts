/**
 * The nixexprs layout (DESIGN.md, "The nixexprs layout"), as a pure function over a tree listing.
 *
 * Kept free of git and of the file system so that every rule is unit-tested with exact texts and
 * the same rules can later run in `flox init`/a local pre-push check without a repo.
 *
 * Choices the design leaves open (also in hooks/README.md):
 * - The top level may also hold `.gitattributes`: the gate reads raw blobs, so attributes cannot
 *   change what is checked, and line-ending settings are common enough to be worth allowing.
 * - `README*`, `LICENSE*` (and the British `LICENCE*`) are matched ignoring case, as files.
 * - `lib/` holds only `.nix` files, at any depth: data files belong to the package that uses them.
 * - `pkgs/<name>/default.nix` must be a regular file, as the evaluator reads it (no symlink).
 * - A symlink is judged by where it lands once every link on the way is followed (as the file
 *   system would), so a chain of links that each look harmless cannot reach outside the repo.
 */

import type { Problem } from "../lib/nix-eval/index.js";
import { isUnsafeComponent, type TreeEntry, type TreeMode } from "../lib/tree-entry.js";

export type { Problem, TreeEntry, TreeMode };
export { isUnsafeComponent };

export interface LayoutOptions {
  /** Largest blob accepted, in bytes. */
  maxFileSize: number;
}

export const PACKAGE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

const TOP_LEVEL_FILE_RE = /^(README|LICENSE|LICENCE)/i;
const TOP_LEVEL_FILES = new Set([".gitignore", ".gitattributes", "flox.toml"]);
const TOP_LEVEL_HINT =
  "the top level may hold only pkgs/, lib/, README*, LICENSE*, .gitignore, .gitattributes and flox.toml; " +
  "move it (a package goes in pkgs/<name>/default.nix) or remove it";
// Linux gives up after 40 links (ELOOP); a tree that needs more is broken anyway.
const MAX_SYMLINK_HOPS = 40;

const isBlob = (e: TreeEntry) => e.mode === "100644" || e.mode === "100755";

/** Every layout problem of the tree, sorted by path; empty when the layout is right. */
export function checkLayout(entries: readonly TreeEntry[], options: LayoutOptions): Problem[] {
  const problems: Problem[] = [];
  const add = (path: string, message: string, hint: string) =>
    problems.push({ path, line: 1, message, hint });

  const symlinks = new Map<string, string>();
  for (const e of entries) if (e.mode === "120000") symlinks.set(e.path, e.symlinkTarget ?? "");

  const badTopDirs = new Set<string>();
  // Package directory name → whether it has a default.nix entry (file, or a symlink reported above).
  const packages = new Map<string, boolean>();

  for (const e of entries) {
    if (e.mode === "040000") continue; // directories are implied by the paths under them
    const parts = e.path.split("/");
    const top = parts[0] ?? "";
    const unsafe = parts.find(isUnsafeComponent);
    if (unsafe !== undefined) {
      // Such a tree can only come from hand-made objects; nothing else about it is worth judging.
      add(
        e.path,
        `path component ${JSON.stringify(unsafe)} is not allowed`,
        "rename it: git refuses to check such a path out",
      );
      continue;
    }

    if (e.mode === "160000") {
      add(
        e.path,
        "git submodules are not allowed",
        "vendor the files into the repo or fetch the source in the package's derivation",
      );
    } else if (e.mode === "120000") {
      const wrong = symlinkProblem(e.path, e.symlinkTarget ?? "", symlinks);
      if (wrong)
        add(e.path, wrong, "point it at a file inside the repo with a relative target, or copy the file in");
    } else if (e.size > options.maxFileSize) {
      add(
        e.path,
        `file is ${formatSize(e.size)}, over the ${formatSize(options.maxFileSize)} limit`,
        "keep big sources out of the repo: fetch them in the derivation (fetchurl with a hash), " +
          "or ask the server admin to raise the limit",
      );
    }

    if (parts.length === 1) {
      if (top === "pkgs")
        add(e.path, "pkgs must be a directory", "put each package in pkgs/<name>/default.nix");
      else if (top === "lib") add(e.path, "lib must be a directory", "put shared Nix helpers in lib/*.nix");
      else if (e.mode !== "160000" && !(TOP_LEVEL_FILE_RE.test(top) || TOP_LEVEL_FILES.has(top)))
        add(e.path, `${top} is not allowed at the top level`, TOP_LEVEL_HINT);
      continue;
    }
    if (top === "pkgs") {
      const name = parts[1] ?? "";
      if (parts.length === 2) {
        if (e.mode !== "160000") {
          const what = e.mode === "120000" ? "symlink" : "file";
          add(
            e.path,
            `${what} directly in pkgs/ (only package directories belong there)`,
            "make it a package, pkgs/<name>/default.nix, or move it into the package that uses it",
          );
        }
        continue;
      }
      const isDefault = parts.length === 3 && parts[2] === "default.nix";
      if (isDefault && e.mode === "120000") {
        // The evaluator reads default.nix only as a regular file (no links to follow under restrict-eval).
        add(e.path, "default.nix is a symlink", "make it a regular file holding the package's function");
      }
      // A symlinked default.nix has its own problem above: "has no default.nix" would only confuse.
      packages.set(name, (packages.get(name) ?? false) || (isDefault && (isBlob(e) || e.mode === "120000")));
    } else if (top === "lib") {
      if (e.mode !== "160000" && !e.path.endsWith(".nix"))
        add(
          e.path,
          "lib/ holds only .nix files",
          "move it into the package directory that uses it (pkgs/<name>/)",
        );
    } else if (!badTopDirs.has(top)) {
      badTopDirs.add(top);
      add(`${top}/`, `${top}/ is not allowed at the top level`, TOP_LEVEL_HINT);
    }
  }

  const byFoldedName = new Map<string, string[]>();
  for (const [name, hasDefault] of packages) {
    const dir = `pkgs/${name}/`;
    if (!PACKAGE_NAME_RE.test(name)) {
      const fixed = suggestName(name);
      add(
        dir,
        `invalid package name "${name}": it must start with a letter or digit and hold only letters, digits and . _ + -`,
        fixed ? `rename the directory, e.g. to pkgs/${fixed}/` : "rename the directory",
      );
    }
    if (!hasDefault)
      add(
        dir,
        `package ${name} has no default.nix`,
        `add ${dir}default.nix, a callPackage-style function ({ stdenv, ... }: stdenv.mkDerivation { ... }), or run flox init`,
      );
    const folded = name.toLowerCase();
    byFoldedName.set(folded, [...(byFoldedName.get(folded) ?? []), name]);
  }
  for (const names of byFoldedName.values()) {
    if (names.length < 2) continue;
    for (const name of names) {
      const others = names
        .filter((n) => n !== name)
        .map((n) => `pkgs/${n}/`)
        .sort(compare)
        .join(", ");
      add(
        `pkgs/${name}/`,
        `package name ${name} clashes with ${others} (names must be unique ignoring case)`,
        "rename or merge them: they collide on case-insensitive file systems and in channel URLs",
      );
    }
  }

  return problems.sort((a, b) => compare(a.path, b.path) || a.line - b.line || compare(a.message, b.message));
}

/** What is wrong with the symlink at `linkPath`, or undefined when it stays inside the repo. */
function symlinkProblem(
  linkPath: string,
  target: string,
  symlinks: ReadonlyMap<string, string>,
): string | undefined {
  if (target.startsWith("/")) return `symlink target ${target} is an absolute path`;
  const stack = linkPath.split("/").slice(0, -1);
  const queue = target.split("/");
  let hops = 0;
  while (queue.length > 0) {
    const part = queue.shift() as string;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (stack.length === 0) return `symlink target ${target} leaves the repo`;
      stack.pop();
      continue;
    }
    stack.push(part);
    const next = symlinks.get(stack.join("/"));
    if (next === undefined) continue;
    if (++hops > MAX_SYMLINK_HOPS) return `symlink target ${target} loops (too many levels of symlinks)`;
    if (next.startsWith("/")) return `symlink target ${target} leads to an absolute path (${next})`;
    stack.pop();
    queue.unshift(...next.split("/"));
  }
  return undefined;
}

function suggestName(name: string): string {
  return name.replace(/[^A-Za-z0-9._+-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "");
}

/** `N bytes` below 1 KiB, else `X.Y MiB (N bytes)` with the fitting unit. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]} (${bytes} bytes)`;
}

/** `path:line: message (hint)`, with control characters escaped so one problem stays one line. */
export function formatProblem(p: Problem): string {
  const text = `${p.path}:${p.line}: ${p.message}${p.hint ? ` (${p.hint})` : ""}`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: escaping them is the point
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

// Byte-order comparison: the same order on every machine and locale, like git's own listing.
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
