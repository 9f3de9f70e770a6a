// Reads the branch and tag tips of a bare repo.
import { execa } from "execa";

/** `refs/heads/*` and `refs/tags/*` → object id (tags: the tag object, as git stores it in the ref). */
export async function readRefs(repo: string): Promise<Map<string, string>> {
  const { stdout } = await execa("git", [
    "--git-dir",
    repo,
    "for-each-ref",
    "--format=%(objectname) %(refname)",
    "refs/heads",
    "refs/tags",
  ]);
  const refs = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const space = line.indexOf(" ");
    if (space > 0) refs.set(line.slice(space + 1), line.slice(0, space));
  }
  return refs;
}
