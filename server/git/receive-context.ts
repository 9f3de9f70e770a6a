// One receive-pack request (a `git push` over HTTP) as the hooks' internal routes see it: which org, which git
// process runs it, whether it still holds the repo's push lock, and what the push's verdict is.
import { randomBytes } from "node:crypto";

export class ReceiveContext {
  /** What the hook gets back from `POST /internal/receives/waiting` and names this request by afterwards. */
  readonly id = randomBytes(12).toString("base64url");
  /** The `git receive-pack` process serving the request, once git started; its hooks are its children. */
  pid: number | null = null;
  /** Set when the push failed after its refs moved (`-o wait`): sent to the client as a side-band error. */
  failure: string | null = null;
  #release: (() => void) | null;
  #open = true;

  constructor(
    readonly org: string,
    releaseLock: () => void,
  ) {
    this.#release = releaseLock;
  }

  /** False once the client's connection closed. */
  get open(): boolean {
    return this.#open;
  }

  get holdsLock(): boolean {
    return this.#release !== null;
  }

  /** Lets the next push to the repo in; the request itself goes on. */
  releaseLock(): void {
    const release = this.#release;
    this.#release = null;
    release?.();
  }

  close(): void {
    this.#open = false;
    this.releaseLock();
  }
}

/** The receive-pack requests in flight, for the hooks' internal routes. */
export class Receives {
  #byId = new Map<string, ReceiveContext>();

  /** A request that got the repo's lock; `releaseLock` lets the next push in. Call `close` when it ends. */
  open(org: string, releaseLock: () => void): ReceiveContext {
    const receive = new ReceiveContext(org, releaseLock);
    this.#byId.set(receive.id, receive);
    return receive;
  }

  close(receive: ReceiveContext): void {
    receive.close();
    this.#byId.delete(receive.id);
  }

  get(id: string): ReceiveContext | undefined {
    return this.#byId.get(id);
  }

  /**
   * The request whose `git receive-pack` is `pid` — a hook's parent process. The process, not "whoever holds
   * the org's lock now", names it: a push whose client went away gives the lock up while its hooks still run.
   */
  byProcess(org: string, pid: number): ReceiveContext | undefined {
    for (const r of this.#byId.values()) if (r.org === org && r.pid === pid) return r;
    return undefined;
  }
}
