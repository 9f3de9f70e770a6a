// `flox builder --store-max SIZE`: after a build, a store grown past SIZE is collected with Nix's own GC. The builder
// keeps nothing as a root: every output is in the Storehouse, and a running build's inputs are Nix's temp roots.
import { execa } from "execa";
import { formatBytes } from "../../lib/bytes.js";
import type { Env } from "./builder-env.js";

/** Bytes the store's files take (`du -sb`, apparent sizes: what Nix counts as freed). */
export async function storeBytes(e: Pick<Env, "store">): Promise<number> {
  const r = await execa("du", ["-sb", `${e.store}/nix/store`], { reject: false, stdin: "ignore" });
  return Number(String(r.stdout).split("\t")[0]) || 0;
}

/** Collects the store down toward `maxBytes` when it is above; says what it did. Never throws. */
export async function shrinkStore(e: Env, maxBytes: number): Promise<void> {
  try {
    const before = await storeBytes(e);
    if (before <= maxBytes) return;
    const r = await execa(
      "nix-store",
      ["--store", e.store, "--gc", "--max-freed", String(before - maxBytes)],
      {
        env: e.env,
        extendEnv: false,
        reject: false,
        stdin: "ignore",
        timeout: 3_600_000,
      },
    );
    const after = await storeBytes(e);
    if (r.exitCode !== 0) {
      e.say(
        `store above --store-max ${formatBytes(maxBytes)}: nix-store --gc failed: ${String(r.stderr).trim()}`,
      );
      return;
    }
    e.say(
      `store was ${formatBytes(before)}, above --store-max ${formatBytes(maxBytes)}: collected with nix-store --gc, now ${formatBytes(after)}`,
    );
  } catch (err) {
    e.say(`store above --store-max: collecting failed: ${(err as Error).message}`);
  }
}
