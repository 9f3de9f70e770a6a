// Why a builder must not take a store that is not its own: it writes its config into STORE/.flox-builder, and
// `nix-store --store STORE` registers and deletes paths there, so `--store /` would run builds against the host's own
// /nix/store and a flox data dir's nix-root would be shared with the server's evaluator behind its back.
import { realpathSync, statSync } from "node:fs";
import { basename, dirname, join, resolve, sep } from "node:path";

const HOST_STORE = "/nix/store";

/** `path` with every symlink of its longest existing prefix resolved; the rest (not made yet) appended as given. */
function realish(path: string): string {
  const rest: string[] = [];
  let p = resolve(path);
  for (;;) {
    try {
      return join(realpathSync(p), ...rest.reverse());
    } catch {
      const up = dirname(p);
      if (up === p) return join(p, ...rest.reverse());
      rest.push(basename(p));
      p = up;
    }
  }
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : `${dir}${sep}`);
}

function sameDir(a: string, b: string): boolean {
  try {
    const x = statSync(a);
    const y = statSync(b);
    return x.isDirectory() && x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** A flox server's data dir is recognised by its database beside its chroot store. */
function looksLikeDataDir(dir: string): boolean {
  try {
    return statSync(join(dir, "db.sqlite")).isFile() && statSync(join(dir, "nix-root")).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Why `store` is not this builder's to take, or undefined when it may be used. Refused: the root, anything that
 * holds or is inside the host's /nix/store (also through symlinks or bind mounts), and anything inside a flox
 * server's data dir (the builder knows only the server's URL, so the data dir is recognised by its files).
 */
export function foreignStoreReason(store: string): string | undefined {
  const hostStore = HOST_STORE;
  const real = realish(store);
  const shown = real === resolve(store) ? real : `${resolve(store)} (really ${real})`;
  if (real === sep) return `${shown} is the root of this host: its /nix/store is the host's own store`;
  const host = realish(hostStore);
  if (within(host, real)) return `${shown} holds the host's own store ${hostStore}`;
  if (within(real, host)) return `${shown} is inside the host's own store ${hostStore}`;
  if (sameDir(join(real, "nix", "store"), host))
    return `${shown}/nix/store is the host's own store ${hostStore}`;
  for (let dir = real; ; dir = dirname(dir)) {
    if (looksLikeDataDir(dir)) return `${shown} is inside the flox server data dir ${dir}`;
    if (dirname(dir) === dir) return undefined;
  }
}
