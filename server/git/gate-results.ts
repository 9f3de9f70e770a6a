// What the server's own push gate evaluated, handed to its evaluator: the gate has just evaluated the pushed tree
// with the evaluator's own Nix, settings and store (writing the .drv files), so evaluating it again right after the
// push would only repeat the same ~0.3 s. Kept in memory for a short while; the evaluator checks that every .drv is
// in its store before it takes a result, and evaluates itself when there is none (another server ran the gate, the
// server restarted, the hook fell back to its own process).
import type { Job } from "../../lib/nix-eval/index.js";

interface Entry {
  jobs: Job[];
  packages: string[];
  at: number;
}

export interface GateResult {
  /** The jobs of every package of the tree, in package order. */
  jobs: Job[];
  /** The package names the gate found (every one of them evaluated to a job). */
  packages: string[];
}

/** Results kept per org and tree id; a few minutes is plenty (the evaluation starts right after the push). */
export class GateResults {
  readonly #byKey = new Map<string, Entry>();
  constructor(
    private readonly ttlMs = 10 * 60_000,
    private readonly max = 256,
  ) {}

  // Tenants never share a result, even for the same tree: each org's evaluation is its own.
  #key = (org: string, tree: string) => `${org}\0${tree}`;

  /** Remembers a clean tree's jobs (the gate found no problem in it). */
  put(org: string, tree: string, result: GateResult): void {
    const key = this.#key(org, tree);
    this.#byKey.delete(key);
    this.#byKey.set(key, { jobs: result.jobs, packages: result.packages, at: Date.now() });
    // Oldest first in a Map: drop from the front.
    for (const k of this.#byKey.keys()) {
      if (this.#byKey.size <= this.max) break;
      this.#byKey.delete(k);
    }
  }

  /** The result for `tree` pushed to `org`, while it is fresh; not removed (two branches may share a tree). */
  get(org: string, tree: string): GateResult | undefined {
    const key = this.#key(org, tree);
    const entry = this.#byKey.get(key);
    if (!entry) return undefined;
    if (Date.now() - entry.at > this.ttlMs) {
      this.#byKey.delete(key);
      return undefined;
    }
    return { jobs: entry.jobs, packages: entry.packages };
  }
}
