// The lock between uploads and GC: narinfo acceptance holds it shared (many at once), a GC batch holds it alone
// while it decides and deletes rows, so a path GC takes can never become the reference of a path being accepted.

type Waiter = { exclusive: boolean; wake: () => void };

export class GcGate {
  #readers = 0;
  #writer = false;
  readonly #waiting: Waiter[] = [];

  /** Shared: an upload's check of its references until its row exists. */
  acquireShared(): Promise<() => void> {
    return this.#acquire(false);
  }

  /** Alone: one GC batch; waiting writers go first so a stream of uploads cannot starve GC. */
  acquireExclusive(): Promise<() => void> {
    return this.#acquire(true);
  }

  #free(exclusive: boolean): boolean {
    if (this.#writer) return false;
    return exclusive ? this.#readers === 0 : !this.#waiting.some((w) => w.exclusive);
  }

  #take(exclusive: boolean): () => void {
    if (exclusive) this.#writer = true;
    else this.#readers++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (exclusive) this.#writer = false;
      else this.#readers--;
      this.#wakeNext();
    };
  }

  #acquire(exclusive: boolean): Promise<() => void> {
    if (this.#free(exclusive) && (exclusive ? true : this.#waiting.length === 0))
      return Promise.resolve(this.#take(exclusive));
    return new Promise((resolve) => {
      this.#waiting.push({ exclusive, wake: () => resolve(this.#take(exclusive)) });
    });
  }

  #wakeNext(): void {
    while (this.#waiting.length > 0) {
      const next = this.#waiting[0] as Waiter;
      if (this.#writer || (next.exclusive && this.#readers > 0)) return;
      this.#waiting.shift();
      next.wake();
      if (next.exclusive) return;
    }
  }
}
