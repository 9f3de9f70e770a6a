// Writes what `flox init` decided: a package's files, or a new checkout's README and .gitignore.
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { CACHE_DIR_NAME } from "../local/checkout.js";
import { CliError } from "../output.js";
import type { TemplateFiles } from "./templates/template.js";

/** Writes `files` under ROOT/pkgs/NAME; never overwrites a file. Returns the repo-relative paths written. */
export async function writePackage(root: string, name: string, files: TemplateFiles): Promise<string[]> {
  const dir = join(root, "pkgs", name);
  const written: string[] = [];
  for (const [rel, file] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b))) {
    const path = join(dir, rel);
    await mkdir(dirname(path), { recursive: true });
    try {
      await writeFile(path, file.content, { flag: "wx", mode: file.executable ? 0o755 : 0o644 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") {
        throw new CliError(`pkgs/${name}/${rel} already exists: nothing of it was overwritten`);
      }
      throw err;
    }
    // The umask may have dropped the execute bits.
    if (file.executable) await chmod(path, 0o755);
    written.push(`pkgs/${name}/${rel}`);
  }
  return written;
}

export function readmeText(org: string, server: string): string {
  return `# ${org}/nixexprs

The Nix packages of ${org}, built by flox at ${server}.

- One package per directory: \`pkgs/<name>/default.nix\` (nixpkgs' callPackage style), its other
  files beside it. Shared Nix helpers go in \`lib/\`.
- \`flox init\` starts a package from a template; \`flox check\` runs the push gate's checks here;
  \`flox build <name>\` builds it here (\`--remote\`: on the server's builders).
- Every push to \`main\` is checked, evaluated and built; when all is green the channel \`${org}\`
  moves: \`nix-channel --add ${server}/channels/${org} ${org}\`. Unless the org is public
  (\`flox org set ${org} --public\`), Nix needs a token that may read it: a netrc file
  (\`machine HOST login x password TOKEN\`) named by \`netrc-file\` in nix.conf.
`;
}

/** The lines flox needs in .gitignore: its local cache and nix-build's result links. */
export const gitignoreLines = [`/${CACHE_DIR_NAME}/`, "result", "result-*"];

/** Appends the lines `.gitignore` lacks (creating it); returns whether anything changed. */
export async function ensureGitignore(root: string): Promise<boolean> {
  const path = join(root, ".gitignore");
  const current = await readFile(path, "utf8").catch(() => "");
  const have = new Set(current.split("\n").map((l) => l.trim()));
  const missing = gitignoreLines.filter((l) => !have.has(l));
  if (missing.length === 0) return false;
  const sep = current === "" || current.endsWith("\n") ? "" : "\n";
  const head =
    current === "" ? "# flox's local cache (chroot store, build trees) and nix-build's links\n" : "";
  await writeFile(path, `${current}${sep}${head}${missing.join("\n")}\n`);
  return true;
}
