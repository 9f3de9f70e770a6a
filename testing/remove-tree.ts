// Tests and benchmarks tear down their temp trees through this one function: the trees hold read-only store paths
// (Nix makes them 0444/0555), which a plain recursive rm cannot remove.
import { rm } from "node:fs/promises";
import { execa } from "execa";

/** Makes `dir` writable again and removes it; a missing `dir` is fine. */
export async function removeTree(dir: string): Promise<void> {
  await execa("chmod", ["-R", "u+w", dir], { reject: false });
  await rm(dir, { recursive: true, force: true });
}
