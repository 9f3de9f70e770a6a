// One entry of a git tree listing, and the path components no checkout may write: shared by the pure layout
// rules (hooks/layout-rules.ts) and the git plumbing that lists and writes trees (lib/git-tree.ts).

export type TreeMode = "100644" | "100755" | "120000" | "040000" | "160000";

export interface TreeEntry {
  /** Repo-relative, `/`-separated, no leading `./`. */
  path: string;
  mode: TreeMode;
  /** Blob size in bytes (for a symlink: the target's length; 0 for trees and submodules). */
  size: number;
  /** Only for mode 120000. */
  symlinkTarget?: string;
}

/** Components that would write outside the checkout or into git's own directory. */
export function isUnsafeComponent(part: string): boolean {
  return part === "" || part === "." || part === ".." || part.toLowerCase() === ".git";
}
