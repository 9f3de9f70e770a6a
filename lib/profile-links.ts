// Profile links on a machine, laid out as Nix lays out profiles:
//   DIR/acme/dev          -> dev-7-link            (switched atomically: a temp symlink renamed over it)
//   DIR/acme/dev-7-link   -> /nix/store/…-user-environment
// so `DIR/acme/dev/bin/hello` is generation 7's, and older generations stay one link away for a rollback by hand.
// Only the newest KEEP_GENERATION_LINKS links stay (and the live one): each is a GC root on the machine, so keeping
// them all would keep every user environment ever installed.
import { randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, readlink, rename, rm, symlink } from "node:fs/promises";
import { join } from "node:path";

const segment = /^[a-z0-9][a-z0-9-]{0,38}$/;
const storePath = /^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$/;

async function linkTarget(path: string): Promise<string | null> {
  try {
    return await readlink(path);
  } catch {
    return null;
  }
}

/** Points `path` at `target` in one step: readers see the old link or the new one, never none. */
export async function replaceSymlink(path: string, target: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  await symlink(target, tmp);
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The generation `DIR/org/name` points at now (through its `name-N-link`), or null. */
export async function linkedGeneration(dir: string, org: string, name: string): Promise<number | null> {
  const target = await linkTarget(join(dir, org, name));
  const m = target ? /^(.+)-([0-9]+)-link$/.exec(target) : null;
  return m && m[1] === name ? Number(m[2]) : null;
}

/**
 * Makes `DIR/org/name` generation `generation` (store path `path`). Answers false when it was already. Names and
 * the store path come from the server and are checked all the same: they become paths here.
 */
export async function switchProfile(
  dir: string,
  org: string,
  name: string,
  generation: number,
  path: string,
): Promise<boolean> {
  if (!segment.test(org) || !segment.test(name)) throw new Error(`${org}/${name} is not a profile name`);
  if (!storePath.test(path)) throw new Error(`${path} is not a store path`);
  if (!Number.isInteger(generation) || generation < 1) throw new Error(`${generation} is not a generation`);
  const base = join(dir, org);
  await mkdir(base, { recursive: true });
  const genLink = `${name}-${generation}-link`;
  const link = join(base, name);
  if ((await linkTarget(link)) === genLink && (await linkTarget(join(base, genLink))) === path) return false;
  await replaceSymlink(join(base, genLink), path);
  await replaceSymlink(link, genLink);
  await pruneGenerationLinks(dir, org, name);
  return true;
}

/** How many `name-N-link`s a machine keeps per profile (the newest; the live one always). */
export const KEEP_GENERATION_LINKS = 5;
/** A link younger than this stays: a reader that resolved `DIR/org/name` a moment ago may be following it. */
export const GENERATION_LINK_GRACE_MS = 60_000;

/**
 * Removes all but the newest `keep` generation links of `DIR/org/name`, never the live one nor one made within
 * `graceMs`; returns those removed.
 */
export async function pruneGenerationLinks(
  dir: string,
  org: string,
  name: string,
  keep = KEEP_GENERATION_LINKS,
  graceMs = GENERATION_LINK_GRACE_MS,
): Promise<number[]> {
  const base = join(dir, org);
  const live = await linkedGeneration(dir, org, name);
  const pattern = new RegExp(`^${name}-([0-9]+)-link$`);
  const numbers = (await readdir(base))
    .flatMap((f) => {
      const m = pattern.exec(f);
      return m ? [Number(m[1])] : [];
    })
    .sort((a, b) => b - a);
  const removed: number[] = [];
  const before = Date.now() - graceMs;
  for (const n of numbers.slice(keep)) {
    if (n === live) continue;
    const link = join(base, `${name}-${n}-link`);
    const made = await lstat(link).catch(() => undefined);
    if (!made || made.mtimeMs > before) continue;
    await rm(link, { force: true });
    removed.push(n);
  }
  return removed;
}
