// Commit author, time and subject for the pages, read from the org's bare repo with `git show` (one call per
// page) and kept: a commit never changes.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { LRUCache } from "lru-cache";
import { repoDir } from "../paths.js";

const run = promisify(execFile);

export interface CommitInfo {
  sha: string;
  author: string;
  email: string;
  /** ISO time of the author date. */
  time: string;
  subject: string;
}

/** `"missing"`: the repo lacks that commit (pruned after a force-push); not asked again while remembered. */
const cache = new LRUCache<string, CommitInfo | "missing">({ max: 20_000 });

/** The commits of `shas` that the repo has (missing ones are absent from the map). */
export async function commitInfo(
  reposDir: string,
  org: string,
  shas: string[],
): Promise<Map<string, CommitInfo>> {
  const out = new Map<string, CommitInfo>();
  const todo: string[] = [];
  for (const sha of new Set(shas)) {
    const hit = cache.get(`${org}:${sha}`);
    if (hit && hit !== "missing") out.set(sha, hit);
    else if (hit === undefined && /^[0-9a-f]{40}$/.test(sha)) todo.push(sha);
  }
  if (todo.length === 0) return out;
  try {
    const { stdout } = await run(
      "git",
      [
        "--git-dir",
        repoDir(reposDir, org),
        "show",
        "-s",
        "--no-walk=unsorted",
        "--format=%H%x00%an%x00%ae%x00%aI%x00%s%x1e",
        ...todo,
      ],
      { maxBuffer: 16 * 1024 * 1024, env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1" } },
    );
    for (const rec of stdout.split("\x1e")) {
      const [sha, author = "", email = "", time = "", subject = ""] = rec.replace(/^\n/, "").split("\0");
      if (sha?.length !== 40) continue;
      const info = { sha, author, email, time: new Date(time).toISOString(), subject };
      cache.set(`${org}:${sha}`, info);
      out.set(sha, info);
    }
  } catch {
    // A sha the repo lacks (a force-push pruned it) fails the whole call: then ask one at a time.
    if (todo.length > 1) {
      for (const sha of todo) for (const [k, v] of await commitInfo(reposDir, org, [sha])) out.set(k, v);
    } else if (todo[0] && existsSync(repoDir(reposDir, org))) cache.set(`${org}:${todo[0]}`, "missing");
  }
  return out;
}
