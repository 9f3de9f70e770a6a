// The push gate's settings for a run on the user's machine: the same checks as the server's hook, with the
// chroot store and busybox under the checkout's cache dir, and the base set the server uses (base-choice.ts).
import { join } from "node:path";
import type { GateSettings } from "../../hooks/gate.js";
import { DEFAULT_MAX_FILE_SIZE } from "../../hooks/push-check.js";
import { ensureBusyboxDir } from "../../lib/busybox-dir.js";
import type { Checkout } from "./checkout.js";

export interface LocalBaseOptions {
  /** A nixpkgs tree to use as the base set, as `flox server --base` (default: the server's, else the bootstrap set). */
  base?: string;
  maxFileSize?: string;
  /** --nix-bin: the directory of the Nix to run (default $FLOX_NIX_BIN, else PATH). */
  nixBin?: string;
}

export async function localGateSettings(
  checkout: Checkout,
  opts: { basePath: string | null; system?: string; maxFileSize?: string },
): Promise<GateSettings> {
  return {
    maxFileSize: opts.maxFileSize ? Number(opts.maxFileSize) : DEFAULT_MAX_FILE_SIZE,
    storeRoot: join(checkout.cacheDir, "nix-root"),
    busyboxDir: await ensureBusyboxDir(join(checkout.cacheDir, "busybox")),
    basePath: opts.basePath,
    ...(opts.system ? { system: opts.system } : {}),
  };
}
