// What `--src` (or the source question) names: a directory in the checkout, a URL, or a git repo;
// and turning it into a template's Source (copying, downloading and hashing as needed).
import { cp, stat } from "node:fs/promises";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { CACHE_DIR_NAME } from "../local/checkout.js";
import { CliError, exitCodes } from "../output.js";
import { prefetchGit, prefetchUrl } from "./prefetch.js";
import type { Source } from "./templates/template.js";

export type SourceSpec =
  | { kind: "example" }
  | { kind: "local"; path: string }
  | { kind: "url"; url: string }
  | { kind: "git"; url: string; ref?: string };

/** `https://…/x.tar.gz` → url; `git+https://…`, `…/x.git`, `git@host:x` → git; anything else → a path. */
export function parseSourceSpec(text: string, gitRef?: string): SourceSpec {
  const t = text.trim();
  if (t === "") return { kind: "example" };
  if (t.startsWith("git+")) return { kind: "git", url: t.slice(4), ref: gitRef };
  if (/^git@[^:]+:/.test(t) || /^(https?|ssh|git|file):\/\/.*\.git\/?$/.test(t))
    return { kind: "git", url: t, ref: gitRef };
  if (/^https?:\/\//.test(t)) return { kind: "url", url: t };
  return { kind: "local", path: t };
}

/** The directory a local source names, for detecting its template (null for other kinds). */
export function localSourceDir(spec: SourceSpec, cwd: string, root: string, name: string): string | null {
  if (spec.kind === "local") return resolve(cwd, spec.path);
  if (spec.kind === "example") return join(root, "pkgs", name, "src");
  return null;
}

export interface ResolvedSource {
  source: Source;
  /** Whether the template should write example sources (the directory does not exist yet). */
  writeExample: boolean;
  /** What was done to get it, for the user: copied, downloaded and hashed. */
  notes: string[];
}

/**
 * Makes `spec` a Source for pkgs/NAME: a directory inside pkgs/NAME/ is used where it is, any other
 * directory is copied to pkgs/NAME/src (the push gate allows a package's files only beside it), a URL
 * is downloaded and hashed, a git repo cloned and hashed.
 */
export async function resolveSource(
  spec: SourceSpec,
  cwd: string,
  root: string,
  name: string,
): Promise<ResolvedSource> {
  const pkgDir = join(root, "pkgs", name);
  switch (spec.kind) {
    case "example": {
      const exists = (await stat(join(pkgDir, "src")).catch(() => null)) !== null;
      return { source: { kind: "local", path: "src" }, writeExample: !exists, notes: [] };
    }
    case "local": {
      const dir = resolve(cwd, spec.path);
      const st = await stat(dir).catch(() => null);
      if (!st?.isDirectory()) {
        throw new CliError(
          `--src ${spec.path}: no such directory (give a directory of sources, a URL or a git repo)`,
          exitCodes.usage,
        );
      }
      const inPkg = relative(pkgDir, dir);
      if (inPkg !== "" && !inPkg.startsWith("..") && !isAbsolute(inPkg)) {
        return {
          source: { kind: "local", path: inPkg.split(sep).join("/") },
          writeExample: false,
          notes: [],
        };
      }
      if (inPkg === "") {
        throw new CliError(
          `--src ${spec.path}: that is the package's own directory; put the sources in a subdirectory, e.g. pkgs/${name}/src`,
          exitCodes.usage,
        );
      }
      const target = join(pkgDir, "src");
      if (await stat(target).catch(() => null)) {
        throw new CliError(
          `pkgs/${name}/src already exists: move the sources there yourself, or pick another name`,
        );
      }
      await cp(dir, target, {
        recursive: true,
        // Not the repo's own metadata, installed dependencies, or flox's cache.
        filter: (from) => ![".git", "node_modules", CACHE_DIR_NAME].includes(from.split(sep).pop() ?? ""),
      });
      const shown = relative(root, dir).startsWith("..") ? dir : relative(root, dir) || ".";
      return {
        source: { kind: "local", path: "src" },
        writeExample: false,
        notes: [
          `copied ${shown} to pkgs/${name}/src (a package's files live beside its default.nix)`,
          ...(shown === dir
            ? []
            : [
                `${shown} is still in the repo: remove it once the copy is right, or the push gate will refuse it there`,
              ]),
        ],
      };
    }
    case "url": {
      const sha256 = await prefetchUrl(spec.url);
      return {
        source: { kind: "url", url: spec.url, sha256 },
        writeExample: false,
        notes: [`downloaded ${spec.url}: sha256 ${sha256}`],
      };
    }
    case "git": {
      const { rev, sha256 } = await prefetchGit(spec.url, spec.ref);
      return {
        source: { kind: "git", url: spec.url, rev, sha256 },
        writeExample: false,
        notes: [`fetched ${spec.url} at ${rev.slice(0, 12)}: sha256 ${sha256}`],
      };
    }
  }
}
