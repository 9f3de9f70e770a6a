/**
 * The directory the bootstrap base set takes its only binary from: `bin/busybox` (a copy of
 * the host's static busybox) and `bin/sh -> busybox`. Nix adds it to a store with a fixed
 * name, so its store path depends on the binary alone, never on where this directory is.
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import {
  access,
  chmod,
  copyFile,
  mkdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
} from "node:fs/promises";
import { join } from "node:path";

/** Debian's busybox-static installs here; its binary needs no dynamic loader, so it runs in any chroot. */
export const hostBusybox = "/bin/busybox";

export class BusyboxMissingError extends Error {
  override name = "BusyboxMissingError";
}

/**
 * Makes `dir/bin/busybox` and `dir/bin/sh -> busybox` if they are not there yet. Safe to call
 * on every start and from several processes at once: each file appears whole or not at all.
 */
export async function ensureBusyboxDir(dir: string, source: string = hostBusybox): Promise<string> {
  try {
    await access(source, constants.R_OK);
  } catch {
    throw new BusyboxMissingError(`${source} is missing: install busybox-static: npm run setup`);
  }
  const bin = join(dir, "bin");
  await mkdir(bin, { recursive: true });

  const target = join(bin, "busybox");
  if (!(await sameContents(target, source))) {
    const tmp = `${target}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    try {
      await copyFile(source, tmp);
      await chmod(tmp, 0o555);
      await rename(tmp, target);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  // Busybox picks its applet from argv[0]: the builder must be started through a link named sh.
  const sh = join(bin, "sh");
  if ((await readlink(sh).catch(() => null)) !== "busybox") {
    const tmp = `${sh}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    await symlink("busybox", tmp);
    await rename(tmp, sh).catch(async (e) => {
      await rm(tmp, { force: true });
      throw e;
    });
  }
  return dir;
}

// Compared byte for byte (2 MB, a few ms): after a host upgrade the copy must follow, and the
// base set's store paths with it.
async function sameContents(copy: string, source: string): Promise<boolean> {
  try {
    const st = await stat(copy);
    if (!st.isFile() || (st.mode & 0o777) !== 0o555) return false;
    const [a, b] = await Promise.all([readFile(copy), readFile(source)]);
    return a.equals(b);
  } catch {
    return false;
  }
}
