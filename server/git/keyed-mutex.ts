// One-at-a-time sections per key (e.g. per repo), for callers within this process.

export class KeyedMutex {
  private tails = new Map<string, Promise<void>>();

  /** Resolves once the caller holds `key`; call the returned function exactly once to let the next one in. */
  async acquire(key: string): Promise<() => void> {
    const before = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = before.then(() => mine);
    this.tails.set(key, tail);
    await before;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      release();
      // Forget the key once nobody waits on it, so the map does not grow with every repo ever pushed to.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }

  /** Whether anybody holds or waits for `key`. */
  busy(key: string): boolean {
    return this.tails.has(key);
  }
}
