/**
 * What the hooks learn from the running server: `git config flox.runFile` names a JSON file
 * (DIR/run/hooks.json) the server rewrites at every start (URL, hook secret, limits, Nix settings).
 */
import { readFile } from "node:fs/promises";
import { HookRunFile, type HookRunFile as HookRunFileType } from "../lib/api/internal.js";
import { gitConfig } from "../lib/git-tree.js";

export type { HookRunFileType as HookRunFile };

export interface RunFileResult {
  /** The parsed run file, or undefined when it could not be read. */
  runFile?: HookRunFileType;
  /** Where the run file was looked for (undefined when flox.runFile is unset). */
  path?: string;
  /** Why there is no run file, in words for the pusher. */
  missing?: string;
}

/** Reads the repo's run file; never throws, so a hook can fall back and say why. */
export async function readRunFile(repoDir?: string): Promise<RunFileResult> {
  const path = await gitConfig("flox.runFile", { cwd: repoDir }).catch(() => undefined);
  if (!path) return { missing: "flox.runFile is not set in this repo's git config" };
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { path, missing: code === "ENOENT" ? `${path} does not exist` : `cannot read ${path}: ${code}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { path, missing: `${path} is not valid JSON` };
  }
  const parsed = HookRunFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { path, missing: `${path} is not a hooks run file (${issue?.path.join(".")}: ${issue?.message})` };
  }
  return { path, runFile: parsed.data };
}
