// A child flox starts must not outlive flox, even when flox is killed with SIGKILL and runs no handler:
// PR_SET_PDEATHSIG, set by util-linux's `setpriv --pdeathsig` just before it execs the command, makes the
// kernel signal the child when its parent dies. One wrapper for every place that spawns a long-lived child.

/**
 * `file args` wrapped so that the kernel sends it `signal` when the process that spawns it dies. KILL for
 * children with nothing to tidy (nix-instantiate); TERM for those that must clean up first (an agent unmounts,
 * Nix stops the builder it started). Spawn the returned file with the returned args.
 */
export function diesWithParent(
  file: string,
  args: readonly string[],
  signal: "KILL" | "TERM" = "KILL",
): { file: string; args: string[] } {
  return { file: "setpriv", args: ["--pdeathsig", signal, "--", file, ...args] };
}
