// Which reasons pin each cached store path (a profile's generation, a `flox download`): a pinned path is fetched
// whole and never evicted. In memory only; the store cache mirrors every change into its index across restarts.
export class PinSet {
  readonly #pins = new Map<string, Set<string>>();

  /** Pins each of `basenames` under `reason` (a path may hold several reasons). */
  add(basenames: Iterable<string>, reason: string): void {
    for (const b of basenames) {
      let reasons = this.#pins.get(b);
      if (!reasons) {
        reasons = new Set();
        this.#pins.set(b, reasons);
      }
      reasons.add(reason);
    }
  }

  /** Drops `reason` from `basenames` (default: every path); a path with no reason left is unpinned. */
  remove(reason: string, basenames?: readonly string[]): void {
    for (const [b, reasons] of this.#pins) {
      if (basenames && !basenames.includes(b)) continue;
      reasons.delete(reason);
      if (reasons.size === 0) this.#pins.delete(b);
    }
  }

  /** Is any pin on the path? */
  has(basename: string): boolean {
    return (this.#pins.get(basename)?.size ?? 0) > 0;
  }

  /** How many of `basenames` are pinned. */
  count(basenames: Iterable<string>): number {
    let n = 0;
    for (const b of basenames) if (this.has(b)) n++;
    return n;
  }

  /** The reasons in force, sorted. */
  reasons(): string[] {
    const all = new Set<string>();
    for (const reasons of this.#pins.values()) for (const r of reasons) all.add(r);
    return [...all].sort();
  }

  /** The paths pinned by `reason`, sorted. */
  pinnedBy(reason: string): string[] {
    const out: string[] = [];
    for (const [b, reasons] of this.#pins) if (reasons.has(reason)) out.push(b);
    return out.sort();
  }
}
