// Creates an org's bare repo and (re)installs the flox hooks in it.
import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { projectRoot } from "../../lib/project-root.js";
import { type DataPaths, repoDir } from "../paths.js";

export const hookNames = ["pre-receive", "post-receive"] as const;

/** Quotes `s` for /bin/sh so that any path survives. */
function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The hook script: a thin shell over the compiled hook. The absolute node path keeps hooks working when the
 * server runs with a PATH that lacks node (systemd units); every start rewrites it, so an upgrade is picked up.
 */
export function hookScript(name: (typeof hookNames)[number]): string {
  const entry = join(projectRoot, "dist", "hooks", `${name}.js`);
  return `#!/bin/sh\nexec ${shQuote(process.execPath)} ${shQuote(entry)} "$@"\n`;
}

/** Writes the hooks into `<repo>/hooks`, replacing what is there. Idempotent. */
export async function installHooks(repo: string): Promise<void> {
  const dir = join(repo, "hooks");
  await mkdir(dir, { recursive: true });
  for (const name of hookNames) {
    const file = join(dir, name);
    const tmp = `${file}.tmp-${process.pid}`;
    await writeFile(tmp, hookScript(name), { mode: 0o755 });
    await chmod(tmp, 0o755);
    // Renaming over the old hook means a push running right now sees either the old or the new script, never half.
    await rename(tmp, file);
  }
}

async function configure(repo: string, paths: DataPaths, org: string): Promise<void> {
  const settings: [string, string][] = [
    ["receive.advertisePushOptions", "true"],
    ["receive.denyDeletes", "false"],
    ["http.receivepack", "true"],
    ["flox.org", org],
    ["flox.runFile", paths.hooksRunFile],
  ];
  for (const [key, value] of settings)
    await execa("git", ["config", "--file", join(repo, "config"), key, value]);
}

/** `git init --bare` the org's repo with branch main, our settings and hooks. Safe to run on an existing repo. */
export async function createRepo(paths: DataPaths, org: string): Promise<string> {
  const repo = repoDir(paths.repos, org);
  await mkdir(repo, { recursive: true });
  await execa("git", ["init", "--quiet", "--bare", "--initial-branch=main", repo]);
  await configure(repo, paths, org);
  await installHooks(repo);
  return repo;
}

/**
 * Brings every existing repo up to date with this checkout: hooks point at the current dist/, settings at the
 * current data dir (both may have moved since the repo was created).
 */
export async function refreshRepo(paths: DataPaths, org: string): Promise<void> {
  const repo = repoDir(paths.repos, org);
  await configure(repo, paths, org);
  await installHooks(repo);
}
