/**
 * Reading pushed commits with real git plumbing.
 *
 * In `pre-receive` the pushed objects sit in quarantine; git finds them through
 * GIT_QUARANTINE_PATH / GIT_ALTERNATE_OBJECT_DIRECTORIES, which the hook inherits, so every command
 * here runs `git` with the inherited environment (plus `env`, when the server judges the push itself) and the
 * repository as working directory.
 *
 * Files are written from raw blobs (`git cat-file --batch`) rather than with `git archive` or
 * `checkout-index`: both apply the pushed tree's own .gitattributes (export-ignore, export-subst,
 * eol conversion), which would let a push make the gate check something other than what it stores.
 * The server's evaluator writes its checkout the same way, so it evaluates exactly the bytes the gate judged, and
 * streams them: one chunk in memory at a time, whatever the tree's size.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { chmod, mkdir, symlink } from "node:fs/promises";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { isUnsafeComponent, type TreeEntry, type TreeMode } from "./tree-entry.js";

export interface GitTreeEntry extends TreeEntry {
  /** The blob (or, for a submodule, commit) id. */
  oid: string;
}

export interface GitOptions {
  /** The repository (a bare repo's directory or a work tree); default: the current directory. */
  cwd?: string;
  /**
   * Added to the inherited environment: the server judging a push in its own process passes the quarantine
   * (GIT_OBJECT_DIRECTORY, GIT_ALTERNATE_OBJECT_DIRECTORIES) that a hook would inherit.
   */
  env?: Record<string, string>;
}

/** A git command failed; the message carries git's own words. */
export class GitCommandError extends Error {
  override name = "GitCommandError";
}

/** The tree holds a path that would land outside the directory it is written to. */
export class UnsafeTreePathError extends Error {
  override name = "UnsafeTreePathError";
  constructor(readonly path: string) {
    super(`unsafe path in tree: ${JSON.stringify(path)}`);
  }
}

/** The files to write add up to more than the sanity limit. */
export class TreeTooLargeError extends Error {
  override name = "TreeTooLargeError";
  constructor(
    readonly totalBytes: number,
    readonly limitBytes: number,
  ) {
    super(`tree holds ${totalBytes} bytes of files, over the ${limitBytes}-byte limit for checking it out`);
  }
}

/** Default for {@link materializeTree}'s sanity limit. */
export const DEFAULT_MAX_TREE_BYTES = 2 * 1024 ** 3;

/**
 * What a server accepts and evaluates by default (`flox server --max-repo-files`, `--max-repo-size`): every
 * evaluation writes the whole tree out, so a repo far past what a package set needs costs every push its time.
 */
export const DEFAULT_MAX_REPO_FILES = 20_000;
export const DEFAULT_MAX_REPO_BYTES = 100 * 1024 ** 2;

export interface RepoLimits {
  maxFiles: number;
  maxBytes: number;
}

/** A tree past the server's repo limits: how many files (or bytes) it holds and the limit it passed. */
export class RepoTooLargeError extends Error {
  override name = "RepoTooLargeError";
  constructor(
    readonly what: "files" | "bytes",
    readonly figure: number,
    readonly limit: number,
  ) {
    super(
      what === "files"
        ? `the repository holds ${figure} files, over this server's limit of ${limit}`
        : `the repository's files add up to ${figure} bytes, over this server's limit of ${limit} bytes`,
    );
  }
}

/** Files (blobs and symlinks) and their total size, against the limits; throws RepoTooLargeError. */
export function checkRepoLimits(entries: readonly TreeEntry[], limits: RepoLimits): void {
  const files = entries.filter((e) => e.mode === "100644" || e.mode === "100755" || e.mode === "120000");
  if (files.length > limits.maxFiles) throw new RepoTooLargeError("files", files.length, limits.maxFiles);
  const bytes = files.reduce((sum, e) => sum + e.size, 0);
  if (bytes > limits.maxBytes) throw new RepoTooLargeError("bytes", bytes, limits.maxBytes);
}

/** What git may print to one command of ours before it is stopped (a listing of ~1M files). */
const maxGitOutput = 128 * 1024 * 1024;

export async function git(args: string[], options: GitOptions & { input?: string } = {}): Promise<string> {
  const result = await execa("git", args, {
    cwd: options.cwd,
    env: options.env,
    input: options.input,
    reject: false,
    stripFinalNewline: false,
    maxBuffer: maxGitOutput,
  });
  if (result.isMaxBuffer) {
    throw new GitCommandError(
      `git ${args[0]} printed more than ${maxGitOutput} bytes; flox reads no more than that`,
    );
  }
  if (result.exitCode !== 0) {
    throw new GitCommandError(
      `git ${args.join(" ")} failed: ${String(result.stderr).trim() || result.exitCode}`,
    );
  }
  return String(result.stdout);
}

/** The object id `rev` names, or undefined when it names nothing (e.g. a ref that does not exist). */
export async function revParse(rev: string, options: GitOptions = {}): Promise<string | undefined> {
  const result = await execa("git", ["rev-parse", "--verify", "--quiet", "--end-of-options", rev], {
    cwd: options.cwd,
    env: options.env,
    reject: false,
  });
  return result.exitCode === 0 ? String(result.stdout).trim() : undefined;
}

/** Whether `ancestor` is reachable from `descendant` (a fast-forward from one to the other). */
export async function isAncestor(
  ancestor: string,
  descendant: string,
  options: GitOptions = {},
): Promise<boolean> {
  const result = await execa("git", ["merge-base", "--is-ancestor", ancestor, descendant], {
    cwd: options.cwd,
    env: options.env,
    reject: false,
  });
  if (result.exitCode === 0) return true;
  if (result.exitCode === 1) return false;
  throw new GitCommandError(`git merge-base --is-ancestor failed: ${String(result.stderr).trim()}`);
}

/** A git config value of the repository, or undefined when unset. */
export async function gitConfig(key: string, options: GitOptions = {}): Promise<string | undefined> {
  const result = await execa("git", ["config", "--get", key], {
    cwd: options.cwd,
    env: options.env,
    reject: false,
  });
  return result.exitCode === 0 ? String(result.stdout).trim() : undefined;
}

/** Every entry of the commit's (or tree's) tree, recursively, with symlink targets filled in. */
export async function listTree(treeish: string, options: GitOptions = {}): Promise<GitTreeEntry[]> {
  const out = await git(["ls-tree", "-r", "-l", "-z", "--full-tree", treeish], options);
  const entries: GitTreeEntry[] = [];
  for (const record of out.split("\0")) {
    if (record === "") continue;
    const tab = record.indexOf("\t");
    const match = /^(\d{6}) (\w+) ([0-9a-f]+) +(\S+)$/.exec(record.slice(0, tab));
    if (tab < 0 || !match) throw new GitCommandError(`git ls-tree: cannot read ${JSON.stringify(record)}`);
    const [, mode, , oid, size] = match as unknown as [string, TreeMode, string, string, string];
    entries.push({ path: record.slice(tab + 1), mode, oid, size: size === "-" ? 0 : Number(size) });
  }
  const links = entries.filter((e) => e.mode === "120000");
  if (links.length > 0) {
    const targets = new Map<string, string>();
    await catFileBatch(
      links.map((e) => e.oid),
      options,
      (oid) => {
        const chunks: Buffer[] = [];
        return {
          write: (chunk) => chunks.push(Buffer.from(chunk)),
          end: () => targets.set(oid, Buffer.concat(chunks).toString("utf8")),
        };
      },
    );
    for (const e of links) e.symlinkTarget = targets.get(e.oid) ?? "";
  }
  return entries;
}

export interface MaterializeOptions extends GitOptions {
  /** Refuse to write more than this many bytes of files; default {@link DEFAULT_MAX_TREE_BYTES}. */
  maxTotalBytes?: number;
}

/**
 * Writes the given entries (blobs and symlinks of one listing) under `destDir`, byte for byte.
 * Symlinks are written last so that no file is ever written through one; judge them with the
 * layout rules before anything follows them.
 */
export async function materializeTree(
  entries: readonly GitTreeEntry[],
  destDir: string,
  options: MaterializeOptions = {},
): Promise<void> {
  const limit = options.maxTotalBytes ?? DEFAULT_MAX_TREE_BYTES;
  const blobs = entries.filter((e) => e.mode === "100644" || e.mode === "100755");
  const links = entries.filter((e) => e.mode === "120000");
  for (const e of [...blobs, ...links]) assertSafePath(e.path);
  const total = blobs.reduce((sum, e) => sum + e.size, 0);
  if (total > limit) throw new TreeTooLargeError(total, limit);

  const dirs = new Set<string>();
  for (const e of [...blobs, ...links]) dirs.add(dirname(join(destDir, e.path)));
  for (const dir of [...dirs].sort()) await mkdir(dir, { recursive: true });

  // One path can appear once per tree, but one blob may be stored under many paths.
  const pathsByOid = new Map<string, GitTreeEntry[]>();
  for (const e of blobs) pathsByOid.set(e.oid, [...(pathsByOid.get(e.oid) ?? []), e]);
  await catFileBatch([...pathsByOid.keys()], options, (oid) => {
    const targets = pathsByOid.get(oid) ?? [];
    const fds = targets.map((e) =>
      openSync(join(destDir, e.path), "wx", e.mode === "100755" ? 0o755 : 0o644),
    );
    return {
      write: (chunk) => {
        for (const fd of fds) writeSync(fd, chunk);
      },
      end: () => {
        for (const fd of fds) closeSync(fd);
      },
    };
  });
  // The umask may have dropped the execute bits that openSync asked for.
  for (const e of blobs) if (e.mode === "100755") await chmod(join(destDir, e.path), 0o755);
  for (const e of links) await symlink(e.symlinkTarget ?? "", join(destDir, e.path));
}

function assertSafePath(path: string): void {
  if (path.split("/").some(isUnsafeComponent)) throw new UnsafeTreePathError(path);
}

interface ObjectSink {
  write(chunk: Uint8Array): void;
  end(): void;
}

/**
 * Streams `git cat-file --batch` for the ids, handing each object's bytes to the sink made for it,
 * so that only one chunk at a time is held in memory whatever the objects' sizes.
 */
async function catFileBatch(
  oids: readonly string[],
  options: GitOptions,
  sinkFor: (oid: string, size: number) => ObjectSink,
): Promise<void> {
  if (oids.length === 0) return;
  const proc = execa("git", ["cat-file", "--batch"], {
    cwd: options.cwd,
    env: options.env,
    input: `${oids.join("\n")}\n`,
    buffer: { stdout: false, stderr: true },
    reject: false,
  });
  // Per object: a header line, `size` bytes, one LF; chunks split these anywhere.
  let state: "header" | "body" | "lf" = "header";
  let header = Buffer.alloc(0);
  let sink: ObjectSink | undefined;
  let remaining = 0;
  let seen = 0;
  const stdout = proc.stdout;
  if (!stdout) throw new GitCommandError("git cat-file --batch: no stdout");
  for await (const raw of stdout as AsyncIterable<Buffer>) {
    let chunk = raw;
    while (chunk.length > 0) {
      if (state === "header") {
        const nl = chunk.indexOf(0x0a);
        if (nl < 0) {
          header = Buffer.concat([header, chunk]);
          break;
        }
        const line = Buffer.concat([header, chunk.subarray(0, nl)]).toString("utf8");
        header = Buffer.alloc(0);
        chunk = chunk.subarray(nl + 1);
        const m = /^([0-9a-f]+) \w+ (\d+)$/.exec(line);
        if (!m) throw new GitCommandError(`git cat-file --batch: ${line}`);
        remaining = Number(m[2]);
        sink = sinkFor(m[1] as string, remaining);
        state = "body";
      } else if (state === "body") {
        const take = Math.min(remaining, chunk.length);
        sink?.write(chunk.subarray(0, take));
        remaining -= take;
        chunk = chunk.subarray(take);
        if (remaining === 0) state = "lf";
      } else {
        chunk = chunk.subarray(1);
        sink?.end();
        sink = undefined;
        seen++;
        state = "header";
      }
    }
  }
  const result = await proc;
  if (result.exitCode !== 0 || state !== "header" || seen !== oids.length) {
    throw new GitCommandError(
      `git cat-file --batch failed after ${seen} of ${oids.length} objects: ${String(result.stderr).trim()}`,
    );
  }
}
