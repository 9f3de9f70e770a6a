// The working tree as a git tree object: what `git add -A && git commit` would push, made without
// touching the user's index or branch. `flox check` and `flox build` judge exactly that tree.
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { CACHE_DIR_NAME } from "./checkout.js";

/**
 * Writes the work tree's files (tracked and untracked, minus what .gitignore leaves out) into the
 * repo's object store through a throw-away index, and returns the tree id.
 */
export async function worktreeTree(root: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "flox-index-"));
  const index = join(dir, "index");
  const env = { ...process.env, GIT_INDEX_FILE: index };
  try {
    // From a copy of the real index: tracked files stay in even when .gitignore names them (as with
    // `git add -A`), and its cached file stats spare re-hashing unchanged files.
    const real = await execa("git", ["rev-parse", "--path-format=absolute", "--git-path", "index"], {
      cwd: root,
    });
    await copyFile(String(real.stdout).trim(), index).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err; // a repo with nothing added yet has no index
    });
    await execa("git", ["add", "-A", "."], { cwd: root, env });
    // flox's own cache is left out even where .gitignore does not name it yet.
    await execa("git", ["rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", CACHE_DIR_NAME], {
      cwd: root,
      env,
    });
    const r = await execa("git", ["write-tree"], { cwd: root, env });
    return String(r.stdout).trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A commit of `tree` on top of HEAD (or a root commit in an empty repo), on no branch. */
export async function commitOfTree(root: string, tree: string, message: string): Promise<string> {
  const head = await execa("git", ["rev-parse", "--verify", "-q", "HEAD"], { cwd: root, reject: false });
  const parent = head.exitCode === 0 ? ["-p", String(head.stdout).trim()] : [];
  // Whoever is configured; a fixed identity only where git has none (it would refuse to commit).
  const ident = await execa("git", ["var", "GIT_COMMITTER_IDENT"], { cwd: root, reject: false });
  const fallback = { name: "flox", email: "flox@localhost" };
  const env =
    ident.exitCode === 0
      ? process.env
      : {
          ...process.env,
          GIT_AUTHOR_NAME: fallback.name,
          GIT_AUTHOR_EMAIL: fallback.email,
          GIT_COMMITTER_NAME: fallback.name,
          GIT_COMMITTER_EMAIL: fallback.email,
        };
  const r = await execa("git", ["commit-tree", tree, ...parent, "-m", message], { cwd: root, env });
  return String(r.stdout).trim();
}
