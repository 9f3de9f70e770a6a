// `flox init --org ORG` in an empty directory: the org's nixexprs repo cloned there (the org made
// first when it does not exist and the token may), with a README and a .gitignore for flox.
import { chmod, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import type { ApiClient } from "../../lib/api/client.js";
import { ApiError } from "../../lib/api/errors.js";
import { CliError } from "../output.js";
import { ensureGitignore, readmeText } from "./scaffold.js";

export interface OrgCheckout {
  org: string;
  repoUrl: string;
  /** The org did not exist and was created. */
  createdOrg: boolean;
  /** The repo had no commit yet. */
  emptyRepo: boolean;
  /** Files written or changed: README.md, .gitignore. */
  scaffolded: string[];
}

/**
 * Clones ORG's repo into `dir` (which must be empty). The token is kept for this repo only, as an
 * `http.<url>.extraHeader` in its .git/config (as a token in a clone URL would be), so that plain
 * `git push` works there.
 */
export async function cloneOrg(
  client: ApiClient,
  conn: { server: string; token: string },
  org: string,
  dir: string,
): Promise<OrgCheckout> {
  const present = await readdir(dir).catch(() => []);
  if (present.length > 0) {
    throw new CliError(
      `${dir} is not empty: run flox init --org ${org} in an empty directory (or, inside your checkout, flox init to add a package)`,
    );
  }
  let createdOrg = false;
  let info: Awaited<ReturnType<ApiClient["getOrg"]>>;
  try {
    info = await client.getOrg(org);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    try {
      info = await client.createOrg({ name: org });
      createdOrg = true;
    } catch (createErr) {
      if (createErr instanceof ApiError && createErr.status === 403) {
        throw new CliError(
          `there is no org ${org} on ${conn.server}, and this token may not create one: ask an admin (flox org create ${org})`,
        );
      }
      throw createErr;
    }
  }
  const url = info.repoUrl;
  const header = `Authorization: Basic ${Buffer.from(`flox:${conn.token}`).toString("base64")}`;
  const env = { ...process.env, GIT_TERMINAL_PROMPT: "0" };
  const clone = await execa("git", ["-c", `http.extraHeader=${header}`, "clone", "-q", url, dir], {
    env,
    reject: false,
  });
  if (clone.exitCode !== 0) throw new CliError(`git clone ${url} failed: ${String(clone.stderr).trim()}`);
  await execa("git", ["config", `http.${url}.extraHeader`, header], { cwd: dir });
  // The token is in it now: readable by its owner only.
  const configPath = await execa("git", ["rev-parse", "--path-format=absolute", "--git-path", "config"], {
    cwd: dir,
  });
  await chmod(String(configPath.stdout).trim(), 0o600);
  const head = await execa("git", ["rev-parse", "--verify", "-q", "HEAD"], { cwd: dir, reject: false });
  const emptyRepo = head.exitCode !== 0;
  // An empty repo's clone may not know the default branch: the server's jobset for `main` is the channel ORG.
  if (emptyRepo) await execa("git", ["symbolic-ref", "HEAD", "refs/heads/main"], { cwd: dir });

  const scaffolded: string[] = [];
  const readme = join(dir, "README.md");
  if (!(await stat(readme).catch(() => null))) {
    await writeFile(readme, readmeText(org, conn.server.replace(/\/+$/, "")));
    scaffolded.push("README.md");
  }
  if (await ensureGitignore(dir)) scaffolded.push(".gitignore");
  return { org, repoUrl: url, createdOrg, emptyRepo, scaffolded };
}

/** The org a checkout belongs to, from its origin URL (…/ORG/nixexprs.git). */
export async function orgOfCheckout(root: string): Promise<string | null> {
  const r = await execa("git", ["remote", "get-url", "origin"], { cwd: root, reject: false });
  return /\/([^/]+)\/nixexprs(\.git)?\/?$/.exec(String(r.stdout).trim())?.[1] ?? null;
}
