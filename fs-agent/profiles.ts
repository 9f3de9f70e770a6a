// Profile sync inside the agent (`flox agent --profiles-dir DIR`): lib/profile-sync.ts follows the machine's event
// stream and switches DIR/org/name; here each switch pins the new generation's closure (known from its narinfos;
// the paths themselves stay lazy until touched or downloaded) and unpins the generations before after a grace
// period, so a program started from the old generation keeps its paths a while. `flox download` fetches a
// generation's whole closure now, under its own pin.
import { readlink } from "node:fs/promises";
import { join } from "node:path";
import { linkedGeneration } from "../lib/profile-links.js";
import type { LiveGeneration } from "../lib/profile-sync.js";
import type { StoreCache } from "./store-cache.js";

export interface ProfileState extends LiveGeneration {
  closurePaths: number;
  switchedAt: number;
}

export interface DownloadProgress {
  profile: string;
  generation: number;
  storePath: string;
  paths: number;
  pathsDone: number;
  bytesTotal: number;
  bytesDone: number;
}

const profileReason = (profile: string, generation: number) => `profile:${profile}@${generation}`;
const downloadReason = (profile: string) => `download:${profile}`;

export class ProfileKeeper {
  readonly current = new Map<string, ProfileState>();
  readonly #unpins = new Map<string, NodeJS.Timeout>();
  readonly #cache: StoreCache;
  readonly #graceMs: number;
  readonly #profilesDir: string | undefined;
  readonly #log: (m: string) => void;

  constructor(cache: StoreCache, opts: { graceMs: number; profilesDir?: string; log: (m: string) => void }) {
    this.#cache = cache;
    this.#graceMs = opts.graceMs;
    this.#profilesDir = opts.profilesDir;
    this.#log = opts.log;
  }

  /** Before the link moves: the closure is pinned (narinfos fetched; a server that cannot give them fails the switch). */
  beforeSwitch = async (e: LiveGeneration): Promise<void> => {
    const reason = profileReason(e.profile, e.generation);
    clearTimeout(this.#unpins.get(reason));
    this.#unpins.delete(reason);
    const closure = await this.#cache.closure([e.storePath]);
    await this.#cache.pin(closure, reason, { fetch: false });
    this.current.set(e.profile, { ...e, closurePaths: closure.length, switchedAt: Date.now() });
  };

  /** Once the link points at the new generation: the ones before are unpinned after the grace period. */
  afterSwitch = (e: LiveGeneration): void => {
    const keep = profileReason(e.profile, e.generation);
    for (const reason of this.#cache.pinReasons()) {
      if (reason.startsWith(`profile:${e.profile}@`) && reason !== keep)
        this.#unpinLater(reason, "the switch");
    }
  };

  /** After a (re)connect: the generations of profiles no longer followed are unpinned after the grace too. */
  caughtUp = (followed: string[]): void => {
    const keep = new Set(followed);
    this.#dropPins((profile) => !keep.has(profile));
  };

  /** Told on the live stream: unpinned after the grace, as at a switch. */
  unsubscribed = (profile: string): void => {
    this.#dropPins((p) => p === profile);
  };

  #dropPins(drop: (profile: string) => boolean): void {
    for (const reason of this.#cache.pinReasons()) {
      const m = /^profile:(.+)@[0-9]+$/.exec(reason);
      if (!m?.[1] || !drop(m[1])) continue;
      this.current.delete(m[1]);
      this.#unpinLater(reason, "the unsubscribe");
    }
  }

  #unpinLater(reason: string, why: string): void {
    if (this.#unpins.has(reason)) return;
    const t = setTimeout(() => {
      this.#unpins.delete(reason);
      this.#cache.unpin(reason);
      this.#log(`${reason.slice("profile:".length)}: unpinned (${this.#graceMs / 1000} s after ${why})`);
    }, this.#graceMs);
    t.unref();
    this.#unpins.set(reason, t);
  }

  /** Pins that wait for their grace period to end. */
  pendingUnpins(): string[] {
    return [...this.#unpins.keys()].sort();
  }

  /** The live generation of `profile`: the one synced, else what DIR/org/name points at. */
  async live(profile: string): Promise<LiveGeneration | undefined> {
    const known = this.current.get(profile);
    if (known) return known;
    const [org = "", name = ""] = profile.split("/");
    if (!this.#profilesDir || !org || !name) return undefined;
    const generation = await linkedGeneration(this.#profilesDir, org, name);
    if (generation === null) return undefined;
    const storePath = await readlink(join(this.#profilesDir, org, `${name}-${generation}-link`));
    return { profile, generation, storePath };
  }

  /**
   * Fetches the whole closure of `profile`'s live generation now and pins it (`download:ORG/NAME`, replacing the
   * pin of an earlier download), reporting progress while it runs.
   */
  async download(
    profile: string,
    onProgress: (p: DownloadProgress) => void,
    concurrency = 4,
  ): Promise<DownloadProgress> {
    const live = await this.live(profile);
    if (!live) {
      throw new Error(
        `${profile}: no live generation here (is this machine subscribed, and the agent run with --profiles-dir?)`,
      );
    }
    const cache = this.#cache;
    const closure = await cache.closure([live.storePath]);
    const reason = downloadReason(profile);
    const before = cache.pinnedBy(reason);
    await cache.pin(closure, reason, { fetch: false });
    const stale = before.filter((b) => !closure.includes(b));
    if (stale.length > 0) cache.unpin(reason, stale);
    const sizes = new Map<string, number>();
    for (const b of closure) {
      const info = await cache.info(b);
      sizes.set(b, info?.fileSize ?? info?.narSize ?? 0);
    }
    const bytesTotal = [...sizes.values()].reduce((a, b) => a + b, 0);
    const figures = (): DownloadProgress => ({
      ...live,
      paths: closure.length,
      pathsDone: closure.filter((b) => cache.has(b)).length,
      bytesTotal,
      bytesDone: closure.reduce((sum, b) => sum + Math.min(cache.fetchedBytes(b), sizes.get(b) ?? 0), 0),
    });
    const tick = setInterval(() => onProgress(figures()), 200);
    try {
      const todo = closure.filter((b) => !cache.has(b));
      const worker = async () => {
        for (let b = todo.shift(); b !== undefined; b = todo.shift()) await cache.ensure(b);
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker));
    } finally {
      clearInterval(tick);
    }
    const done = figures();
    onProgress(done);
    return done;
  }

  close(): void {
    for (const t of this.#unpins.values()) clearTimeout(t);
    this.#unpins.clear();
  }
}
