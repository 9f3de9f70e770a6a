// The only way a profile changes: one edit at a time per profile, each new generation built and announced.
import { desc, eq, max } from "drizzle-orm";
import type { Logger } from "pino";
import { publishDrvClosure } from "../builds/publish-drvs.js";
import type { Db } from "../db/open.js";
import { first, one } from "../db/raw.js";
import { type ProfileEntry, profileEvents, profileGenerations, profiles } from "../db/tables.js";
import { inTransaction } from "../db/transaction.js";
import { ConflictError, NotFoundError } from "../errors.js";
import { KeyedMutex } from "../git/keyed-mutex.js";
import { appendProfileChange } from "../machines/feed.js";
import type { Storehouse } from "../storehouse/store.js";
import { type CanRead, resolveEntry } from "./entries.js";
import {
  type ChangeMeta,
  currentGeneration,
  diffEntries,
  eventMeta,
  type GenerationRow,
  getGeneration,
  type ProfileRow,
} from "./profiles.js";
import { buildUserEnv, type UserEnvOptions } from "./user-env.js";

export interface EditResult {
  profile: ProfileRow;
  /** The generation made, or null when nothing changed (no generation is made then). */
  generation: GenerationRow | null;
}

export interface ProfileEditorOptions {
  db: Db;
  storehouse: Storehouse;
  logger: Logger;
  /** How the user environment is built (the server's chroot store substituting from its own Storehouse). */
  userEnv: () => UserEnvOptions;
  /** Called once a generation became live (a new one, or a rollback), after its transaction committed. */
  onLive?: (profileId: number) => void;
}

/** Edits are serialized per profile: two installs at once both land, one generation after the other. */
export class ProfileEditor {
  readonly #o: ProfileEditorOptions;
  readonly #locks = new KeyedMutex();

  constructor(options: ProfileEditorOptions) {
    this.#o = options;
  }

  async #edit<T>(profileId: number, work: (profile: ProfileRow) => Promise<T>): Promise<T> {
    const release = await this.#locks.acquire(String(profileId));
    try {
      const profile = await this.#o.db.select().from(profiles).where(eq(profiles.id, profileId)).then(first);
      if (!profile) throw new NotFoundError("the profile was deleted meanwhile");
      return await work(profile);
    } finally {
      release();
    }
  }

  async #entries(profile: ProfileRow): Promise<ProfileEntry[]> {
    return (await currentGeneration(this.#o.db, profile))?.entries ?? [];
  }

  /** Builds and publishes the environment of `entries`, then records it as the next generation, live. */
  async #commit(
    profile: ProfileRow,
    entries: ProfileEntry[],
    action: string,
    meta: ChangeMeta,
  ): Promise<EditResult> {
    const sorted = [...entries].sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
    const storePath = await buildUserEnv(
      this.#o.userEnv(),
      sorted.map((e) => ({
        label: e.label,
        name: e.name,
        system: e.system,
        outputs: e.outputs,
        priority: e.priority,
      })),
    );
    await publishDrvClosure({ storehouse: this.#o.storehouse, storeRoot: this.#o.userEnv().storeRoot }, [
      storePath,
    ]);
    const { db } = this.#o;
    const result = await inTransaction(db, async (tx) => {
      const top = await tx
        .select({ n: max(profileGenerations.number) })
        .from(profileGenerations)
        .where(eq(profileGenerations.profileId, profile.id))
        .then(first);
      const number = (top?.n ?? 0) + 1;
      const generation = await tx
        .insert(profileGenerations)
        .values({ profileId: profile.id, number, storePath, entries: sorted })
        .returning()
        .then(one);
      const updated = await tx
        .update(profiles)
        .set({ current: number })
        .where(eq(profiles.id, profile.id))
        .returning()
        .then(one);
      await tx.insert(profileEvents).values({
        profileId: profile.id,
        action,
        fromGeneration: profile.current,
        toGeneration: number,
        ...eventMeta(meta),
      });
      await appendProfileChange(tx, {
        profileId: profile.id,
        action,
        generation: number,
        from: profile.current,
        storePath,
      });
      this.#o.logger.info(
        { profile: profile.id, generation: number, storePath, action },
        "profile generation made",
      );
      return { profile: updated, generation };
    });
    this.#o.onLive?.(profile.id);
    return result;
  }

  /** Adds (or replaces, by label) entries. */
  install(profile: ProfileRow, refs: string[], priority: number, canRead: CanRead, meta: ChangeMeta) {
    return this.#edit(profile.id, async (p) => {
      const fresh: ProfileEntry[] = [];
      for (const r of refs)
        fresh.push(await resolveEntry(this.#o.db, this.#o.storehouse, r, priority, canRead));
      const byLabel = new Map((await this.#entries(p)).map((e) => [e.label, e]));
      for (const e of fresh) byLabel.set(e.label, e);
      return this.#commit(p, [...byLabel.values()], "install", meta);
    });
  }

  remove(profile: ProfileRow, labels: string[], meta: ChangeMeta) {
    return this.#edit(profile.id, async (p) => {
      const entries = await this.#entries(p);
      const missing = labels.filter((l) => !entries.some((e) => e.label === l));
      if (missing.length) {
        throw new NotFoundError(
          `${p.name} has no entry ${missing.join(", ")}; it has: ${entries.map((e) => e.label).join(", ") || "nothing"}`,
        );
      }
      return this.#commit(
        p,
        entries.filter((e) => !labels.includes(e.label)),
        "remove",
        meta,
      );
    });
  }

  /** Re-resolves followed entries; a new generation only when one of them moved. */
  upgrade(profile: ProfileRow, canRead: CanRead, meta: ChangeMeta): Promise<EditResult> {
    return this.#edit(profile.id, async (p) => {
      const entries = await this.#entries(p);
      const next: ProfileEntry[] = [];
      for (const e of entries) {
        next.push(
          e.source.includes("#")
            ? await resolveEntry(this.#o.db, this.#o.storehouse, e.source, e.priority, canRead)
            : e,
        );
      }
      const d = diffEntries(entries, next);
      if (d.changed.length === 0) return { profile: p, generation: null };
      return this.#commit(p, next, "upgrade", meta);
    });
  }

  /** Makes generation `to` live (default: the newest one before the live one), as `nix-env --rollback` does. */
  async rollback(profile: ProfileRow, to: number | undefined, meta: ChangeMeta): Promise<EditResult> {
    return this.#edit(profile.id, async (p) => {
      const { db } = this.#o;
      if (p.current === null) throw new ConflictError(`${p.name} has no generation yet`);
      let target = to;
      if (target === undefined) {
        const prev = (
          await db
            .select({ number: profileGenerations.number })
            .from(profileGenerations)
            .where(eq(profileGenerations.profileId, p.id))
            .orderBy(desc(profileGenerations.number))
        ).find((g) => g.number < (p.current ?? 0));
        if (!prev)
          throw new ConflictError(`generation ${p.current} is the first: there is nothing to roll back to`);
        target = prev.number;
      }
      const generation = await getGeneration(db, p, target);
      const result = await inTransaction(db, async (tx) => {
        const updated = await tx
          .update(profiles)
          .set({ current: target })
          .where(eq(profiles.id, p.id))
          .returning()
          .then(one);
        await tx.insert(profileEvents).values({
          profileId: p.id,
          action: "rollback",
          fromGeneration: p.current,
          toGeneration: target,
          ...eventMeta(meta),
        });
        await appendProfileChange(tx, {
          profileId: p.id,
          action: "rollback",
          generation: generation.number,
          from: p.current,
          storePath: generation.storePath,
        });
        return { profile: updated, generation };
      });
      this.#o.onLive?.(p.id);
      return result;
    });
  }
}
