// The hashes a package's remote sources are checked by, computed as Nix computes them, so that the
// user never has to run a build just to learn one.
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { narHashOfPath } from "../../lib/nar-writer.js";
import { encodeNix32 } from "../../lib/nix32.js";
import { CliError } from "../output.js";

/** `fetchurl`'s sha256 of what `url` serves (flat: the bytes' sha256), nix32 as `nix-prefetch-url` prints it. */
export async function prefetchUrl(url: string): Promise<string> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(`--src ${url}: not a URL (e.g. https://example.org/tool-1.0.tar.gz)`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new CliError(`--src ${url}: only http(s) URLs can be fetched by the builders`);
  }
  let res: Response;
  try {
    res = await fetch(url, { redirect: "follow" });
  } catch (err) {
    throw new CliError(`cannot download ${url}: ${(err as Error).cause ?? (err as Error).message}`);
  }
  if (!res.ok || !res.body) throw new CliError(`cannot download ${url}: HTTP ${res.status}`);
  const hash = createHash("sha256");
  for await (const chunk of res.body) hash.update(chunk);
  return encodeNix32(hash.digest());
}

/**
 * The commit `ref` (default HEAD) of the git repo at `url`, and nixpkgs' fetchgit sha256 of it: the NAR
 * hash of the checked-out files without `.git` (fetchgit's default, leaveDotGit = false; submodules
 * are not fetched here, so give `fetchSubmodules = false` if the repo has any).
 */
export async function prefetchGit(url: string, ref?: string): Promise<{ rev: string; sha256: string }> {
  const work = await mkdtemp(join(tmpdir(), "flox-prefetch-git-"));
  const env = { ...process.env, GIT_TERMINAL_PROMPT: "0" };
  try {
    const dir = join(work, "checkout");
    const clone = await execa("git", ["clone", "-q", "--no-checkout", url, dir], { env, reject: false });
    if (clone.exitCode !== 0) throw new CliError(`cannot clone ${url}: ${String(clone.stderr).trim()}`);
    const rev = await execa("git", ["rev-parse", "--verify", `${ref ?? "HEAD"}^{commit}`], {
      cwd: dir,
      env,
      reject: false,
    });
    if (rev.exitCode !== 0) throw new CliError(`${url} has no commit ${ref ?? "HEAD"}`);
    const sha = String(rev.stdout).trim();
    await execa("git", ["-c", "advice.detachedHead=false", "checkout", "-q", sha], { cwd: dir, env });
    await rm(join(dir, ".git"), { recursive: true, force: true });
    const { narHash } = await narHashOfPath(dir);
    return { rev: sha, sha256: encodeNix32(narHash) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
