// Test helpers for flox init, check and build: the real CLI in a checkout, and programs of its chroot store run
// at their /nix/store paths.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import * as assert from "uvu/assert";
import { gitIn } from "../../hooks/test-repos.js";
import { projectRoot } from "../../lib/project-root.js";

const floxBin = join(projectRoot, "cli", "bin", "flox");
export const fixtureBase = join(projectRoot, "fixtures", "init-base");

export interface Run {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

export async function flox(cwd: string, args: string[]): Promise<Run> {
  const r = await execa(process.execPath, [floxBin, ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: "1", FLOX_SERVER: "http://127.0.0.1:1", FLOX_TOKEN: "" },
    reject: false,
    stdin: "ignore",
  });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export function ok(r: Run, what: string): Run {
  assert.is(r.exitCode, 0, `${what} exits 0\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** A fresh checkout: git repo on main with an empty pkgs/ (what a clone of a new org's repo has). */
export async function newCheckout(tmp: string, name: string): Promise<string> {
  const dir = join(tmp, name);
  await mkdir(join(dir, "pkgs"), { recursive: true });
  await gitIn(dir, "init", "-q", "-b", "main");
  return dir;
}

/** Runs a program of the checkout's chroot store at its /nix/store path, in a private mount namespace. */
export async function runStored(storeRoot: string, program: string, args: string[] = []): Promise<string> {
  const r = await execa(
    "/usr/bin/unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "/bin/sh",
      "-c",
      '/usr/bin/mount --bind "$0/nix/store" /nix/store && exec "$@"',
      storeRoot,
      program,
      ...args,
    ],
    { env: { PATH: "/nonexistent" }, extendEnv: false, reject: false },
  );
  assert.is(r.exitCode, 0, `${program} ${args.join(" ")}: ${r.stderr}`);
  // execa drops the final newline.
  return String(r.stdout);
}

/** `flox build NAME --json`: the output path and the chroot store. */
export async function build(
  dir: string,
  name: string,
): Promise<{ out: string; storeRoot: string; drvPath: string }> {
  const r = ok(await flox(dir, ["build", name, "--json"]), `flox build ${name}`);
  const data = JSON.parse(r.stdout) as {
    ok: boolean;
    outputs: { out: string };
    storeRoot: string;
    drvPath: string;
  };
  assert.ok(data.ok);
  assert.match(data.outputs.out, new RegExp(`^/nix/store/[0-9a-z]{32}-${name}-`));
  return { out: data.outputs.out, storeRoot: data.storeRoot, drvPath: data.drvPath };
}
