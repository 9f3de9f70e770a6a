// What an evaluation of an org's nixexprs repo yields (jobs and problems) and what it is asked with.
/** One thing wrong with a pushed repo, shown to the pusher as `path:line: message (hint)`. */
export interface Problem {
  /** Repo-relative, with `/` separators. */
  path: string;
  line: number;
  message: string;
  hint?: string;
}

/** One package of the repo, evaluated: what the build queue needs. */
export interface Job {
  /** The package's attribute: its directory name under pkgs/. */
  attr: string;
  /** The derivation's name (e.g. `wordcount-1.2.0`). */
  name: string;
  system: string;
  drvPath: string;
  /** Output name → store path. */
  outputs: Record<string, string>;
  /** From `meta.timeout`: the build's time limit in seconds (null: the server's default). */
  timeoutSeconds?: number | null;
  /** From `meta.maxSilent`: seconds without output before the build is killed. */
  maxSilentSeconds?: number | null;
  /** From `meta.schedulingPriority`: higher runs first. */
  priority?: number | null;
}

export interface EvalOptions {
  /** A checkout (or exported tree) of the repo. */
  repoDir: string;
  /** Root of the chroot store that instantiate mode writes .drv files into (`--store`). */
  storeRoot: string;
  /** `bin/busybox` + `bin/sh`, see ensureBusyboxDir. */
  busyboxDir: string;
  /** A nixpkgs checkout to use as the base set instead of the bootstrap one (`flox server --base`). */
  basePath?: string;
  system?: string;
  /** Per nix process; default 60 s. */
  timeoutMs?: number;
  /** Address space per nix process (RLIMIT_AS), default {@link DEFAULT_EVAL_MEMORY_BYTES}. */
  memoryBytes?: number;
  /** Nix processes at once when packages are evaluated one by one; default min(4, cores). */
  concurrency?: number;
}

export interface EvalResult {
  jobs: Job[];
  problems: Problem[];
}

export const defaultEvalTimeoutMs = 60_000;
export const defaultSystem = "x86_64-linux";

/** `path:line: message (hint)`: how the gate prints a problem (git adds `remote: `). */
export function formatProblem(p: Problem): string {
  return `${p.path}:${p.line}: ${p.message}${p.hint ? ` (${p.hint})` : ""}`;
}
