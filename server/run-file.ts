// Writes DATA_DIR/run/hooks.json: what the git hooks need from this server run (HookRunFile).
import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { HookRunFile } from "../lib/api/internal.js";

/** Atomically (temp file + rename) and readable by the owner only: it holds the hook secret. */
export async function writeRunFile(file: string, content: HookRunFile): Promise<void> {
  const checked = HookRunFile.parse(content);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(checked, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

/** The Nix system string of this machine, as the evaluator needs it. */
export function nixSystem(arch: string = process.arch, platform: string = process.platform): string {
  const cpu: Record<string, string> = { x64: "x86_64", arm64: "aarch64", ia32: "i686" };
  return `${cpu[arch] ?? arch}-${platform}`;
}
