// Writes DATA_DIR/run/hooks.json: what the git hooks need from this server run (HookRunFile).
import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { HookRunFile } from "../lib/api/internal.js";

/**
 * Atomically (temp file + rename) and readable by the owner only: it holds the hook secret. Beside it, for the sh
 * hooks (server/git/create-repo.ts), `hooks.url` (the server's URL) and `hooks.curl` (a curl config holding the
 * secret's header, so that it is never on a command line); they are written first, so the JSON's presence means all
 * three are this run's.
 */
export async function writeRunFile(file: string, content: HookRunFile): Promise<void> {
  const checked = HookRunFile.parse(content);
  const dir = dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeOwnerOnly(join(dir, "hooks.url"), `${checked.serverUrl}\n`);
  await writeOwnerOnly(join(dir, "hooks.curl"), `header = "authorization: Bearer ${checked.hookSecret}"\n`);
  await writeOwnerOnly(file, `${JSON.stringify(checked, null, 2)}\n`);
}

async function writeOwnerOnly(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

/** The Nix system string of this machine, as the evaluator needs it. */
export function nixSystem(arch: string = process.arch, platform: string = process.platform): string {
  const cpu: Record<string, string> = { x64: "x86_64", arm64: "aarch64", ia32: "i686" };
  return `${cpu[arch] ?? arch}-${platform}`;
}
