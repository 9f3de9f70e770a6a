// What every `flox init` template is given and gives back; the common pieces of a package file.

/** Where a package's sources come from. */
export type Source =
  /** A directory inside the package's own directory, e.g. `src` for pkgs/NAME/src. */
  | { kind: "local"; path: string }
  /** A file on the web, checked by its sha256 (nix32, as `nix-prefetch-url` prints it). */
  | { kind: "url"; url: string; sha256: string }
  /** A commit of a git repo, checked by the sha256 of its files' NAR (as nixpkgs' fetchgit). */
  | { kind: "git"; url: string; rev: string; sha256: string };

/** The answers a template renders. */
export interface PackageAnswers {
  name: string;
  version: string;
  description: string;
  /** An attribute of nixpkgs' `lib.licenses`, e.g. `mit`. */
  license: string;
  source: Source;
}

export interface TemplateFile {
  content: string;
  executable?: boolean;
}

/** Files to write, by path relative to pkgs/NAME/. */
export type TemplateFiles = Record<string, TemplateFile>;

export interface Template {
  id: string;
  title: string;
  /** One line for the menu: what it is for. */
  summary: string;
  /** Whether the bootstrap base set (busybox only) can build it; otherwise it needs nixpkgs. */
  bootstrapBuilds: boolean;
  /** pkgs/NAME/default.nix and, for a local source that does not exist yet, a small example of it. */
  render(answers: PackageAnswers, opts: { writeExample: boolean }): TemplateFiles;
}

/** A Nix string literal. */
export function nixString(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\$\{/g, "\\${")}"`;
}

/** The lines between `''` quotes: `''` and `${` escaped as Nix wants them. */
export function indentedString(s: string): string {
  return s.replace(/''/g, "'''").replace(/\$\{/g, "''${");
}

/** Whether a URL names an archive the stdenv unpacks (as opposed to one plain file). */
export function isArchiveUrl(url: string): boolean {
  return /\.(tar|tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz|zip)$/i.test(new URL(url).pathname);
}

/** The first lines of every package file: what this file is, and how a Nix package reads. */
export function header(a: PackageAnswers, template: Template): string {
  return `# pkgs/${a.name}/default.nix — the package "${a.name}", started by \`flox init\` (template: ${template.id}).
#
# New to Nix? A package file is a *function*. The braces just below list what this package
# needs; flox fills each one in by name — from this repo's own pkgs/ first, then from the base
# package set (nixpkgs, or flox's small bootstrap set) — just like nixpkgs' \`callPackage\`.
# The function returns a *derivation*: a recipe that a builder runs in an empty, isolated
# directory. Whatever the recipe puts under $out becomes the package, at a path like
# /nix/store/<hash>-${a.name}-${a.version}, where <hash> changes whenever any input changes.
#
# Try it before pushing:  flox check   (what the push gate checks)
#                         flox build ${a.name}   (builds it here, shows the log)
`;
}

/** The function's argument list, `{ a, b }:`, with the source's fetcher when it needs one. */
export function argList(names: string[], source: Source): string {
  const fetcher = source.kind === "url" ? "fetchurl" : source.kind === "git" ? "fetchgit" : null;
  const all = [...names, ...(fetcher && !names.includes(fetcher) ? [fetcher] : [])];
  return `{ ${all.join(", ")} }:`;
}

/** `src = …;` with a comment saying where the sources come from, indented by two spaces. */
export function srcLines(source: Source): string {
  switch (source.kind) {
    case "local":
      return `  # The sources: the directory ./${source.path} beside this file. Nix copies it into the store,
  # so the build sees exactly the files committed here (and the hash changes when they do).
  src = ./${source.path};`;
    case "url":
      return `  # The sources: downloaded by the builder, then checked against this sha256 (computed by
  # \`flox init\`; \`nix-prefetch-url URL\` prints the same). A changed file fails the build.
  src = fetchurl {
    url = ${nixString(source.url)};
    sha256 = ${nixString(source.sha256)};
  };`;
    case "git":
      return `  # The sources: one commit of a git repo, checked against the sha256 of its files (computed
  # by \`flox init\`, as nixpkgs' fetchgit computes it). fetchgit comes from nixpkgs.
  src = fetchgit {
    url = ${nixString(source.url)};
    rev = ${nixString(source.rev)};
    sha256 = ${nixString(source.sha256)};
  };`;
  }
}

/** `pname`, `version`, and the comment that explains them. */
export function nameLines(a: PackageAnswers): string {
  return `  # The store path's name is "\${pname}-\${version}": bump the version when you change the package.
  pname = ${nixString(a.name)};
  version = ${nixString(a.version)};`;
}

/** The `meta` block: read by people, \`flox\` and nixpkgs' tools; it does not change the build. */
export function metaLines(a: PackageAnswers, extra: string[] = []): string {
  return `  # About the package. meta never changes what is built.
  meta = {
    description = ${nixString(a.description)};
    license = lib.licenses.${a.license};
${extra.map((l) => `    ${l}\n`).join("")}  };`;
}
