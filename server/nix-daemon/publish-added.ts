// Paths the shared daemon's clients added (a .drv from nix-instantiate, a source from `builtins.path`, a file from
// `nix-store --add`) are in its store but not yet in the Storehouse, which the agents' mounts read. They are put
// there when first asked for, through the Storehouse's own verified upload, and signed by the server like the
// evaluator's .drv closures. Why that is safe: an untrusted client can only add content-addressed paths (the
// daemon refuses unsigned input-addressed ones), whose names are the hash of their contents, so the server vouches
// for nothing it did not check; every other path in that store came from the Storehouse already.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { PublishDrvsError, publishDrvClosure } from "../builds/publish-drvs.js";
import type { Storehouse } from "../storehouse/store.js";

export async function publishFromSharedStore(
  deps: { storehouse: Storehouse; storeRoot: string; signal: AbortSignal },
  hash: string,
): Promise<boolean> {
  const names = await readdir(join(deps.storeRoot, "nix", "store")).catch(() => [] as string[]);
  const name = names.find((n) => n.startsWith(`${hash}-`) && !n.endsWith(".lock") && !n.endsWith(".chroot"));
  if (!name) return false;
  try {
    // The path with its closure; a path being written (not valid yet) fails the query and stays a miss.
    await publishDrvClosure(deps, [`/nix/store/${name}`]);
    return true;
  } catch (err) {
    if (err instanceof PublishDrvsError) return false;
    throw err;
  }
}
