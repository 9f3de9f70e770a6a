// Whether a new package name would pass the push gate: the gate's own layout rules are run over the
// repo's package directories plus the new one, so the answer is the gate's, word for word.
import { checkLayout, formatProblem, type TreeEntry } from "../../hooks/layout-rules.js";

/**
 * The gate's problems with `pkgs/NAME/` beside the existing package directories (empty: the name is
 * fine). A directory without default.nix yet (sources put there first) may become the package.
 */
export function packageNameProblems(
  name: string,
  existing: readonly string[],
  packages: readonly string[] = existing,
): string[] {
  if (packages.includes(name))
    return [`pkgs/${name}/ already exists: choose another name, or edit that package`];
  if (name === "") return ["give the package a name, e.g. hello"];
  // A path component git would refuse (`..`, `/`) is not a name at all; the layout rules would
  // judge it as a path instead.
  if (name.includes("/") || name === "." || name === "..") return [`"${name}" is not a directory name`];
  const entry = (n: string): TreeEntry => ({ path: `pkgs/${n}/default.nix`, mode: "100644", size: 1 });
  const problems = checkLayout([...existing.filter((n) => n !== name), name].map(entry), {
    maxFileSize: Number.MAX_SAFE_INTEGER,
  });
  return problems.filter((p) => p.path.startsWith(`pkgs/${name}/`)).map(formatProblem);
}
