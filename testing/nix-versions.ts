// Which Nix versions a test or bench can run here: the host's (Debian's 2.8) always, and 2.26 when
// `npm run setup -- --modern-nix` put it in .cache/nix-2.26/bin.
import { join } from "node:path";
import { probeNix } from "../lib/nix-install.js";
import { projectRoot } from "../lib/project-root.js";

export const modernNixDir = join(projectRoot, ".cache", "nix-2.26", "bin");

/** Each Nix as the directory to run it from; `undefined` is the host's, on PATH. */
export async function availableNixes(): Promise<Array<string | undefined>> {
  const out: Array<string | undefined> = [undefined];
  try {
    await probeNix(modernNixDir);
    out.push(modernNixDir);
  } catch {}
  return out;
}
