// Running nix-instantiate under flox's limits and sandbox options, in a throw-away Nix environment.
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { commandNotFound, formatMemory, limitedCommand, ranOutOfMemory } from "../limited-command.js";
import { isolatedNixEnv } from "../nix-isolated-env.js";
import { lastLine } from "./nix-errors.js";

export class NixNotInstalledError extends Error {
  override name = "NixNotInstalledError";
}

/** Nix exited 0 but printed something that is not the JSON that jobs.nix makes. */
export class NixOutputError extends Error {
  override name = "NixOutputError";
}

/** Nix printed more than flox keeps in memory ({@link maxNixStdout}); nothing of it is read. */
export class NixOutputTooLargeError extends NixOutputError {
  override name = "NixOutputTooLargeError";
}

/**
 * Bounds on what is kept of a nix process's output. The jobs JSON is about 300 bytes a package, so 64 MiB is far
 * beyond any repo the gate lets in; stderr is only read for its first error, which Nix prints first.
 */
export const maxNixStdout = 64 * 1024 * 1024;
const maxNixStderr = 4 * 1024 * 1024;

export interface NixRun {
  ok: boolean;
  timedOut: boolean;
  /** Stopped by the memory limit. */
  outOfMemory: boolean;
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
}

/** A throw-away HOME/config for Nix: the host's nix.conf, user config and caches are never read. */
export async function isolatedEnv(): Promise<{ env: Record<string, string>; dispose: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "flox-eval-"));
  const { env: base, confDir } = await isolatedNixEnv({ dir, conf: [], tmpDir: dir });
  const env = { ...base, XDG_CONFIG_DIRS: confDir, LC_ALL: "C" };
  return { env, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/** The limits every nix process runs under. */
export interface RunLimits {
  timeoutMs: number;
  memoryBytes: number;
}

export async function runNix(
  args: readonly string[],
  env: Record<string, string>,
  limits: RunLimits,
  wantStdout = true,
): Promise<NixRun> {
  const cmd = limitedCommand("nix-instantiate", args, limits);
  const r = await execa(cmd.file, cmd.args, {
    env,
    extendEnv: false,
    reject: false,
    stdin: "ignore",
    stdout: wantStdout ? "pipe" : "ignore",
    timeout: limits.timeoutMs,
    // The pid execa knows is the wrapper's `timeout`: killing it kills nix through PR_SET_PDEATHSIG.
    killSignal: "SIGKILL",
    maxBuffer: { stdout: maxNixStdout, stderr: maxNixStderr },
  });
  const stderr = String(r.stderr ?? "");
  if (r.exitCode === undefined && !r.timedOut && /ENOENT/.test(String(r.message))) {
    throw new NixNotInstalledError(
      `${cmd.file} not found: flox runs Nix under setpriv, timeout and prlimit (util-linux, coreutils)`,
    );
  }
  if (commandNotFound(r.exitCode, stderr)) {
    throw new NixNotInstalledError(
      `nix-instantiate could not be run: ${lastLine(stderr)} (Nix: npm run setup; setpriv and prlimit come with util-linux)`,
    );
  }
  if (r.isMaxBuffer && String(r.stdout ?? "").length >= maxNixStdout) {
    throw new NixOutputTooLargeError(
      `nix-instantiate printed more than ${formatMemory(maxNixStdout)} of output; flox reads no more than that`,
    );
  }
  return {
    ok: !r.failed,
    timedOut: r.timedOut,
    outOfMemory: r.failed && !r.timedOut && ranOutOfMemory(stderr),
    stdout: typeof r.stdout === "string" ? r.stdout : "",
    stderr,
    exitCode: r.exitCode,
  };
}

/** `(/. + "…")`: a Nix path expression for any absolute path, spaces and quotes included. */
export function nixPathExpr(p: string): string {
  return `(/. + "${p.replace(/[\\"$]/g, (c) => `\\${c}`)}")`;
}

/** Nix processes at once when packages are evaluated one by one. */
export function defaultConcurrency(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

/** The resolved directories one evaluation reads: the only paths Nix may open under restrict-eval. */
export interface Ctx {
  root: string;
  nixDir: string;
  busybox: string;
  base: string | undefined;
}

export function sandboxArgs(ctx: Ctx): string[] {
  return [
    "--option",
    "restrict-eval",
    "true",
    "--option",
    "allow-import-from-derivation",
    "false",
    "--option",
    "allowed-uris",
    "",
    "--option",
    "allow-unsafe-native-code-during-evaluation",
    "false",
    "--option",
    "substituters",
    "",
    // Under restrict-eval these are the only readable paths.
    "-I",
    `flox=${ctx.nixDir}`,
    "-I",
    `repo=${ctx.root}`,
    "-I",
    `busybox=${ctx.busybox}`,
    ...(ctx.base ? ["-I", `nixpkgs=${ctx.base}`] : []),
  ];
}
