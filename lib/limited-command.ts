/**
 * Limits for a child that runs hostile code (nix-instantiate on a pushed repo) which hold even when flox itself
 * is killed: a memory ceiling, a time limit enforced outside flox's process, and death with its parent.
 *
 * The command is wrapped as
 *   setpriv --pdeathsig KILL -- timeout -s KILL N setpriv --pdeathsig KILL -- prlimit --as=BYTES -- CMD…
 * - the outer setpriv: `timeout` is SIGKILLed when flox dies (even by kill -9);
 * - `timeout` (coreutils): the time limit, in a process of its own, so it holds when flox's own timer is gone;
 *   it runs CMD in a fresh process group and kills that group at the limit;
 * - the inner setpriv: PR_SET_PDEATHSIG is cleared by fork, so CMD needs its own, tied to `timeout`;
 * - prlimit (util-linux): RLIMIT_AS, the address space CMD may map. Nix's Boehm GC grows its heap by mapping,
 *   so a runaway evaluation stops with Nix's own `error: out of memory` instead of taking the machine's RAM.
 * All three tools are in util-linux and coreutils, on every Linux flox runs on.
 */

import { diesWithParent } from "./dies-with-parent.js";

/** The default address-space limit of one evaluation: a bootstrap-set evaluation needs under 100 MiB. */
export const DEFAULT_EVAL_MEMORY_BYTES = 2 * 1024 ** 3;
/** Below this, Nix cannot even map its shared libraries. */
export const MIN_EVAL_MEMORY_BYTES = 256 * 1024 ** 2;
/** The wrapper's own time limit runs this long after the caller's, so the caller's (which reports) fires first. */
const OUTER_GRACE_SECONDS = 5;

export interface ChildLimits {
  /** RLIMIT_AS in bytes; no memory limit when unset. */
  memoryBytes?: number | undefined;
  /** The caller's time limit; the wrapper kills the child a few seconds after it. */
  timeoutMs: number;
}

/** The wrapper chain around `file args`: spawn the returned file with the returned args. */
export function limitedCommand(
  file: string,
  args: readonly string[],
  limits: ChildLimits,
): { file: string; args: string[] } {
  const seconds = Math.ceil(limits.timeoutMs / 1000) + OUTER_GRACE_SECONDS;
  const memory =
    limits.memoryBytes === undefined ? [] : ["prlimit", `--as=${Math.floor(limits.memoryBytes)}`, "--"];
  const [cmd, ...rest] = [...memory, file, ...args] as [string, ...string[]];
  const inner = diesWithParent(cmd, rest);
  return diesWithParent("timeout", ["-s", "KILL", `${seconds}s`, inner.file, ...inner.args]);
}

/** What Nix (and the loader) print when RLIMIT_AS stops them. */
const outOfMemory = /out of memory|std::bad_alloc|Cannot allocate memory|failed to map segment/i;

/** Whether a failed child's stderr says it hit the memory limit. */
export function ranOutOfMemory(stderr: string): boolean {
  return outOfMemory.test(stderr);
}

/** The wrapper could not run CMD at all (exit 126/127 from timeout, setpriv or prlimit). */
export function commandNotFound(exitCode: number | undefined, stderr: string): boolean {
  return (
    (exitCode === 127 || exitCode === 126) &&
    /No such file or directory|cannot execute|failed to execute/i.test(stderr)
  );
}

/** `2.0 GiB`, `256 MiB`: how a limit is shown in messages. */
export function formatMemory(bytes: number): string {
  const units: Array<[string, number]> = [
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ];
  for (const [unit, size] of units) {
    if (bytes >= size) {
      const v = bytes / size;
      return `${Number.isInteger(v) ? v : v.toFixed(1)} ${unit}`;
    }
  }
  return `${bytes} bytes`;
}
