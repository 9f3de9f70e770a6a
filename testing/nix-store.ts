/**
 * Test helper: a throw-away, fully isolated Nix "machine" in a temp directory.
 *
 * Every Nix command run through it uses a chroot store under the temp dir (the default
 * `store` in its private nix.conf), no substituters, and its own HOME / XDG dirs (so Nix's
 * binary-cache-v6.sqlite and any user config of the host are never read). The host's
 * /nix/store and daemon are never touched. Builds need no nixpkgs: a static busybox is
 * added to the store and used as the builder.
 *
 *   const nix = await createNixTestStore();
 *   try { const [out] = await nix.build(`run "hello" "echo hi > $out"`); } finally { await nix.cleanup(); }
 */

import { constants, mkdirSync } from "node:fs";
import { access, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { execa } from "execa";
import { isolatedNixEnv } from "../lib/nix-isolated-env.js";
import { clientNixDir } from "./client-nix.js";

/** A Nix command exited non-zero; `stderr` holds Nix's own explanation. */
export class NixCommandError extends Error {
  override name = "NixCommandError";
  constructor(
    readonly command: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
  ) {
    super(
      `${command} failed (exit ${exitCode ?? "signal"}): ${stderr.trim().split("\n").slice(-3).join(" | ")}`,
    );
  }
}

export class BusyboxNotFoundError extends Error {
  override name = "BusyboxNotFoundError";
}

export interface RunOptions {
  cwd?: string;
  input?: string | Uint8Array;
  /** Extra environment on top of the isolation env (e.g. NIX_STORE_DIR experiments). */
  env?: Record<string, string>;
}

export interface NixTestStore {
  /** The temp directory holding everything below; removed by cleanup(). */
  readonly dir: string;
  /** Root of the chroot store (its files live under `<storeRoot>/nix/store`). */
  readonly storeRoot: string;
  /** The logical store directory, the same as on a real machine. */
  readonly storeDir: "/nix/store";
  /** `bin/busybox` and `bin/sh -> busybox`, outside the store. */
  readonly busyboxDir: string;
  /** The isolation environment every command gets; hand it to your own execa calls. */
  readonly env: Readonly<Record<string, string>>;
  /** Runs a Nix command (`nix-store`, `nix-build`, `nix`, …) isolated; resolves to stdout. */
  run(command: string, args: readonly string[], options?: RunOptions): Promise<string>;
  /**
   * `nix-build --no-out-link` of `expr`, evaluated `with` these in scope: `system`,
   * `busybox` (its store path) and `run name script`, a derivation that runs `script` in
   * busybox sh with every busybox applet on PATH. Resolves to the output paths.
   * `extraArgs` go to nix-build (e.g. `--option extra-experimental-features ca-derivations`).
   */
  build(expr: string, extraArgs?: readonly string[]): Promise<string[]>;
  /** build() of an expression with exactly one output. */
  buildOne(expr: string, extraArgs?: readonly string[]): Promise<string>;
  /**
   * `nix-store -r PATHS` from the binary cache at `cacheUrl` alone, as a stock client that trusts only `publicKey`
   * and requires signatures; `options` are more `--option NAME VALUE` pairs (a netrc-file, say).
   */
  substitute(
    cacheUrl: string,
    publicKey: string,
    paths: readonly string[],
    options?: Record<string, string>,
  ): Promise<string>;
  /** Where a store path's files are on disk in this chroot store. */
  realPath(storePath: string): string;
  /** A not-yet-existing directory under `dir`, for a second store or a file:// cache. */
  scratch(name: string): string;
  cleanup(): Promise<void>;
}

/** Escapes `s` as a Nix string literal. */
export function nixString(s: string): string {
  return `"${s.replace(/[\\"$]/g, (c) => `\\${c}`)}"`;
}

async function findBusybox(): Promise<string> {
  const candidates = [
    process.env.FLOX_BUSYBOX,
    ...(process.env.PATH ?? "").split(delimiter).map((d) => join(d, "busybox")),
  ];
  for (const c of candidates) {
    if (!c) continue;
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {}
  }
  throw new BusyboxNotFoundError("no busybox on PATH (set FLOX_BUSYBOX to a static busybox binary)");
}

export async function createNixTestStore(): Promise<NixTestStore> {
  const dir = await mkdtemp(join(tmpdir(), "flox-nix-"));
  try {
    return await setUp(dir);
  } catch (e) {
    await removeTree(dir);
    throw e;
  }
}

async function removeTree(dir: string): Promise<void> {
  // Nix makes store contents read-only; without write bits a non-root rm would fail.
  await execa("chmod", ["-R", "u+w", dir], { reject: false });
  await rm(dir, { recursive: true, force: true });
}

async function setUp(dir: string): Promise<NixTestStore> {
  const storeRoot = join(dir, "store");
  const busyboxDir = join(dir, "busybox");
  await mkdir(join(busyboxDir, "bin"), { recursive: true });

  await copyFile(await findBusybox(), join(busyboxDir, "bin", "busybox"));
  // Busybox picks its applet from argv[0], so `sh` must be a link named sh.
  await symlink("busybox", join(busyboxDir, "bin", "sh"));

  const nixDir = clientNixDir();
  const { env } = await isolatedNixEnv({
    ...(nixDir ? { nixDir } : {}),
    dir,
    inheritHost: true,
    conf: [
      `store = ${storeRoot}`,
      "substituters =",
      "trusted-public-keys =",
      "sandbox = false",
      "build-users-group =",
      "experimental-features = nix-command",
    ],
  });

  const helpersFile = join(dir, "flox-test.nix");
  await writeFile(
    helpersFile,
    `rec {
  system = builtins.currentSystem;
  busybox = builtins.path { path = /. + ${nixString(busyboxDir)}; name = "busybox"; };
  run = name: script: derivation {
    inherit name system;
    builder = "\${busybox}/bin/sh";
    args = [ "-c" ''
      \${busybox}/bin/busybox mkdir -p "$TMPDIR/.bin"
      \${busybox}/bin/busybox --install -s "$TMPDIR/.bin"
      export PATH="$TMPDIR/.bin"
      set -e
      \${script}
    '' ];
  };
}
`,
  );

  const run = async (command: string, args: readonly string[], options: RunOptions = {}) => {
    const result = await execa(command, args, {
      env: { ...env, ...options.env },
      extendEnv: false,
      cwd: options.cwd ?? dir,
      input: options.input,
      reject: false,
      timeout: 300_000,
      stripFinalNewline: true,
    });
    if (result.failed) {
      throw new NixCommandError(`${command} ${args.join(" ")}`, result.exitCode, String(result.stderr));
    }
    return String(result.stdout);
  };

  const build = async (expr: string, extraArgs: readonly string[] = []) => {
    const full = `with import (/. + ${nixString(helpersFile)}); (${expr})`;
    const out = await run("nix-build", ["--no-out-link", ...extraArgs, "-E", full]);
    return out.split("\n").filter((l) => l.length > 0);
  };

  return {
    dir,
    storeRoot,
    storeDir: "/nix/store",
    busyboxDir,
    env,
    run,
    build,
    async buildOne(expr, extraArgs = []) {
      const outs = await build(expr, extraArgs);
      if (outs.length !== 1 || outs[0] === undefined) {
        throw new NixCommandError("nix-build", 0, `expected one output, got ${outs.length}`);
      }
      return outs[0];
    },
    substitute(cacheUrl, publicKey, paths, options = {}) {
      const all = {
        substituters: cacheUrl,
        "require-sigs": "true",
        "trusted-public-keys": publicKey,
        ...options,
      };
      return run("nix-store", [
        "-r",
        ...paths,
        ...Object.entries(all).flatMap(([k, v]) => ["--option", k, v]),
      ]);
    },
    realPath(storePath) {
      return join(storeRoot, storePath);
    },
    scratch(name) {
      mkdirSync(join(dir, "scratch"), { recursive: true });
      return join(dir, "scratch", name);
    },
    cleanup: () => removeTree(dir),
  };
}
