/**
 * The tests' git helpers: work repos made from fixtures/repos/*, commits, git run as a user would (`runGit`), and
 * pushes to a remote whose `remote:` lines are what the hooks printed.
 */
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { compiledPath, projectRoot } from "../lib/project-root.js";

/** A fixture asked for is not in fixtures/repos. */
export class FixtureMissingError extends Error {
  override name = "FixtureMissingError";
}

const identity = {
  GIT_TERMINAL_PROMPT: "0",
  GIT_AUTHOR_NAME: "Flox Test",
  GIT_AUTHOR_EMAIL: "test@flox.invalid",
  GIT_COMMITTER_NAME: "Flox Test",
  GIT_COMMITTER_EMAIL: "test@flox.invalid",
};

export const fixtureDir = (name: string) => join(projectRoot, "fixtures", "repos", name);

/** Runs git in `cwd` with a fixed identity; rejects on failure with git's stderr. */
export async function gitIn(cwd: string, ...args: string[]): Promise<string> {
  const r = await execa("git", args, { cwd, env: identity });
  return r.stdout.trim();
}

/** A fresh work repo (branch main, one commit) holding a copy of fixtures/repos/<name>. */
export async function workRepoFromFixture(name: string, parent?: string): Promise<string> {
  const src = fixtureDir(name);
  if (!existsSync(src)) throw new FixtureMissingError(`fixtures/repos/${name} does not exist (yet)`);
  const dir = join(parent ?? (await mkdtemp(join(tmpdir(), "flox-work-"))), name);
  await mkdir(dir, { recursive: true });
  await cp(src, dir, { recursive: true, verbatimSymlinks: true });
  await gitIn(dir, "init", "-q", "-b", "main");
  await commitAll(dir, `fixture ${name}`);
  return dir;
}

export async function commitAll(dir: string, message: string): Promise<string> {
  await gitIn(dir, "add", "-A");
  await gitIn(dir, "commit", "-q", "--allow-empty", "-m", message);
  return gitIn(dir, "rev-parse", "HEAD");
}

/** Adds `pkgs/NAME/default.nix`, a runCommand running `script` (a Nix string's text), and commits it. */
export async function commitPackage(dir: string, name: string, script: string): Promise<string> {
  await mkdir(join(dir, "pkgs", name), { recursive: true });
  await writeFile(
    join(dir, "pkgs", name, "default.nix"),
    `{ runCommand }:\n\nrunCommand "${name}" { } "${script}"\n`,
  );
  return commitAll(dir, name);
}

export interface GitResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs git as a user would, but never prompting and never reading the host's git config. */
export async function runGit(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<GitResult> {
  const r = await execa("git", args, {
    cwd,
    reject: false,
    env: {
      ...identity,
      GIT_CONFIG_GLOBAL: "/dev/null",
      GIT_CONFIG_NOSYSTEM: "1",
      ...env,
    },
    timeout: 60_000,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export interface PushResult {
  exitCode: number;
  /** `--porcelain` ref status lines. */
  stdout: string;
  stderr: string;
  /** The hooks' lines: what git printed after `remote: `. */
  remote: string[];
}

/** `git push <url> <args…>`, never rejecting. */
export async function push(
  workDir: string,
  url: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<PushResult> {
  const r = await execa("git", ["push", "--porcelain", url, ...args], {
    cwd: workDir,
    reject: false,
    env: { ...identity, ...env },
  });
  const stderr = String(r.stderr);
  const remote = stderr
    .split("\n")
    .filter((l) => l.startsWith("remote: "))
    // biome-ignore lint/suspicious/noControlCharactersInRegex: git's clear-to-end-of-line
    .map((l) => l.slice("remote: ".length).replace(/\s*(\u001b\[K)?\s*$/, ""));
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr, remote };
}

/** The hook script the server installs (server/git/create-repo.ts), for tests that set up their own repo. */
export function hookScript(name: "pre-receive" | "post-receive"): string {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  return `#!/bin/sh\nexec ${q(process.execPath)} ${q(compiledPath(`hooks/${name}.ts`))} "$@"\n`;
}

/** Builds dist/ when the compiled hooks are missing (the hooks always run compiled). */
export async function ensureCompiledHooks(): Promise<void> {
  if (existsSync(compiledPath("hooks/pre-receive.ts")) && existsSync(compiledPath("hooks/post-receive.ts")))
    return;
  await execa("npx", ["tsc", "-p", "tsconfig.json"], { cwd: projectRoot, reject: false });
  if (!existsSync(compiledPath("hooks/pre-receive.ts"))) {
    throw new Error("dist/hooks/pre-receive.js is missing after `npx tsc -p tsconfig.json`");
  }
}
