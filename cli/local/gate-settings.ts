// The push gate's settings for a run on the user's machine: the same checks as the server's hook,
// with the chroot store and busybox under the checkout's cache dir.
import { join, resolve } from "node:path";
import type { GateSettings } from "../../hooks/gate.js";
import { DEFAULT_MAX_FILE_SIZE } from "../../hooks/push-check.js";
import { ensureBusyboxDir } from "../../lib/busybox-dir.js";
import type { Checkout } from "./checkout.js";

export interface LocalBaseOptions {
  /** A nixpkgs tree to use as the base set, as `flox server --base` (default: the bootstrap set). */
  base?: string;
  maxFileSize?: string;
}

export async function localGateSettings(checkout: Checkout, opts: LocalBaseOptions): Promise<GateSettings> {
  return {
    maxFileSize: opts.maxFileSize ? Number(opts.maxFileSize) : DEFAULT_MAX_FILE_SIZE,
    storeRoot: join(checkout.cacheDir, "nix-root"),
    busyboxDir: await ensureBusyboxDir(join(checkout.cacheDir, "busybox")),
    basePath: opts.base ? resolve(opts.base) : null,
  };
}

/** In words, for the first line a local command prints. */
export function describeBase(settings: GateSettings): string {
  return settings.basePath ? `the base set at ${settings.basePath}` : "the bootstrap base package set";
}
