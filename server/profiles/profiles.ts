// Profiles: named package sets of an org, changed only through `ProfileEditor` (one edit at a time per profile).
// Every change that alters the packages makes a numbered generation — a user environment in the Storehouse —
// and every change at all (rollback too) is an event with its author, host, command and reason.
import { and, asc, desc, eq, inArray, max } from "drizzle-orm";
import type { Logger } from "pino";
import { parseStorePath } from "../../lib/store-path.js";
import { publishDrvClosure } from "../builds/publish-drvs.js";
import { currentPoint, publishedJobs, splitChannelName } from "../channels/channels.js";
import type { Db, Tx } from "../db/open.js";
import { type ProfileEntry, profileEvents, profileGenerations, profiles } from "../db/schema.js";
import { ConflictError, InvalidInputError, NotFoundError } from "../errors.js";
import { findJobset } from "../evaluations/data.js";
import { KeyedMutex } from "../git/keyed-mutex.js";
import { appendProfileChange } from "../machines/feed.js";
import { findOrg, type OrgRecord } from "../orgs/orgs.js";
import type { Storehouse } from "../storehouse/store.js";
import { buildUserEnv, type UserEnvOptions } from "./user-env.js";

export type ProfileRow = typeof profiles.$inferSelect;
export type GenerationRow = typeof profileGenerations.$inferSelect;
export type ProfileEventRow = typeof profileEvents.$inferSelect;

/** Who asks for a change, and why: kept with every event. */
export interface ChangeMeta {
  author: string;
  host?: string | undefined;
  command?: string | undefined;
  reason?: string | undefined;
}

export const DEFAULT_PRIORITY = 5;

export function findProfile(db: Db | Tx, org: OrgRecord, name: string): ProfileRow | undefined {
  return db
    .select()
    .from(profiles)
    .where(and(eq(profiles.orgId, org.id), eq(profiles.name, name)))
    .get();
}

export function getProfile(db: Db, org: OrgRecord, name: string): ProfileRow {
  const p = findProfile(db, org, name);
  if (!p)
    throw new NotFoundError(
      `there is no profile ${org.name}/${name}; make it with: flox profile create ${org.name}/${name}`,
    );
  return p;
}

export function listProfiles(db: Db, orgIds: number[] | undefined): ProfileRow[] {
  const q = db.select().from(profiles);
  return (orgIds ? q.where(inArray(profiles.orgId, orgIds.length ? orgIds : [-1])) : q)
    .orderBy(asc(profiles.orgId), asc(profiles.name))
    .all();
}

export function createProfile(db: Db, org: OrgRecord, name: string, meta: ChangeMeta): ProfileRow {
  return db.transaction((tx) => {
    if (findProfile(tx, org, name)) {
      throw new ConflictError(`profile ${org.name}/${name} exists already`);
    }
    const row = tx.insert(profiles).values({ orgId: org.id, name }).returning().get();
    tx.insert(profileEvents)
      .values({ profileId: row.id, action: "create", ...eventMeta(meta) })
      .run();
    return row;
  });
}

function eventMeta(meta: ChangeMeta) {
  return {
    author: meta.author,
    host: meta.host ?? null,
    command: meta.command ?? null,
    reason: meta.reason ?? null,
  };
}

export function listGenerations(db: Db, profileId: number): GenerationRow[] {
  return db
    .select()
    .from(profileGenerations)
    .where(eq(profileGenerations.profileId, profileId))
    .orderBy(asc(profileGenerations.number))
    .all();
}

export function getGeneration(db: Db, profile: ProfileRow, number: number): GenerationRow {
  const g = db
    .select()
    .from(profileGenerations)
    .where(and(eq(profileGenerations.profileId, profile.id), eq(profileGenerations.number, number)))
    .get();
  if (!g)
    throw new NotFoundError(`profile has no generation ${number}; \`flox profile generations\` lists them`);
  return g;
}

export function currentGeneration(db: Db, profile: ProfileRow): GenerationRow | undefined {
  return profile.current === null ? undefined : getGeneration(db, profile, profile.current);
}

export function listEvents(db: Db, profileId: number): ProfileEventRow[] {
  return db
    .select()
    .from(profileEvents)
    .where(eq(profileEvents.profileId, profileId))
    .orderBy(asc(profileEvents.id))
    .all();
}

export interface GenerationDiff {
  added: string[];
  removed: string[];
  /** Same label, other store paths (a followed channel moved, or a pin changed). */
  changed: string[];
}

export function diffEntries(from: readonly ProfileEntry[], to: readonly ProfileEntry[]): GenerationDiff {
  const a = new Map(from.map((e) => [e.label, e]));
  const b = new Map(to.map((e) => [e.label, e]));
  const same = (x: ProfileEntry, y: ProfileEntry) =>
    JSON.stringify(Object.entries(x.outputs).sort()) === JSON.stringify(Object.entries(y.outputs).sort()) &&
    x.priority === y.priority &&
    x.source === y.source;
  return {
    added: [...b.keys()].filter((k) => !a.has(k)).sort(),
    removed: [...a.keys()].filter((k) => !b.has(k)).sort(),
    changed: [...b.keys()]
      .filter((k) => a.has(k) && !same(a.get(k) as ProfileEntry, b.get(k) as ProfileEntry))
      .sort(),
  };
}

/** Can the token read this org's channels? Routes answer it from the token's roles. */
export type CanRead = (org: OrgRecord) => boolean;

/**
 * `acme#hello` / `acme/staging#hello` (a channel attribute, followed) or `/nix/store/…` (pinned), resolved to what
 * it is now. The store path must be in the Storehouse: machines fetch it from there.
 */
export function resolveEntry(
  db: Db,
  storehouse: Storehouse,
  ref: string,
  priority: number,
  canRead: CanRead,
): ProfileEntry {
  if (ref.startsWith("/")) {
    let parsed: ReturnType<typeof parseStorePath>;
    try {
      parsed = parseStorePath(ref);
    } catch (err) {
      throw new InvalidInputError(`${ref} is not a store path: ${(err as Error).message}`);
    }
    const path = `/nix/store/${parsed.hash}-${parsed.name}`;
    if (!storehouse.findPath(parsed.hash)) {
      throw new InvalidInputError(
        `${path} is not in the Storehouse; upload it first (nix copy --to http://HOST/cache …) or install a channel package (ORG#attr)`,
      );
    }
    return {
      label: parsed.name,
      source: path,
      name: parsed.name,
      system: "",
      outputs: { out: path },
      priority,
    };
  }
  const hash = ref.indexOf("#");
  if (hash <= 0 || hash === ref.length - 1) {
    throw new InvalidInputError(
      `${JSON.stringify(ref)} is neither CHANNEL#attr (e.g. acme#hello, acme/staging#hello) nor a /nix/store path`,
    );
  }
  const channel = ref.slice(0, hash);
  const attr = ref.slice(hash + 1);
  const { org: orgName, branch } = splitChannelName(channel);
  const org = findOrg(db, orgName);
  const jobset = org && canRead(org) ? findJobset(db, org, branch) : undefined;
  if (!org || !jobset)
    throw new NotFoundError(`there is no channel ${channel} you may read; \`flox channels\` lists them`);
  const point = currentPoint(db, jobset.id);
  if (!point)
    throw new ConflictError(`channel ${channel} has no green evaluation yet, so nothing to install from it`);
  const job = publishedJobs(db, point.evaluationId).find((j) => j.attr === attr);
  if (!job) {
    throw new NotFoundError(
      `channel ${channel} has no package ${attr} (at evaluation #${point.evaluationId}); \`flox channel show ${channel}\` lists them`,
    );
  }
  return {
    label: attr,
    source: `${channel}#${attr}`,
    name: job.name,
    system: job.system,
    outputs: job.outputs,
    priority,
  };
}

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
      const profile = this.#o.db.select().from(profiles).where(eq(profiles.id, profileId)).get();
      if (!profile) throw new NotFoundError("the profile was deleted meanwhile");
      return await work(profile);
    } finally {
      release();
    }
  }

  #entries(profile: ProfileRow): ProfileEntry[] {
    return currentGeneration(this.#o.db, profile)?.entries ?? [];
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
    const result = db.transaction((tx) => {
      const top = tx
        .select({ n: max(profileGenerations.number) })
        .from(profileGenerations)
        .where(eq(profileGenerations.profileId, profile.id))
        .get();
      const number = (top?.n ?? 0) + 1;
      const generation = tx
        .insert(profileGenerations)
        .values({ profileId: profile.id, number, storePath, entries: sorted })
        .returning()
        .get();
      const updated = tx
        .update(profiles)
        .set({ current: number })
        .where(eq(profiles.id, profile.id))
        .returning()
        .get();
      tx.insert(profileEvents)
        .values({
          profileId: profile.id,
          action,
          fromGeneration: profile.current,
          toGeneration: number,
          ...eventMeta(meta),
        })
        .run();
      appendProfileChange(tx, {
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
      const fresh = refs.map((r) => resolveEntry(this.#o.db, this.#o.storehouse, r, priority, canRead));
      const byLabel = new Map(this.#entries(p).map((e) => [e.label, e]));
      for (const e of fresh) byLabel.set(e.label, e);
      return this.#commit(p, [...byLabel.values()], "install", meta);
    });
  }

  remove(profile: ProfileRow, labels: string[], meta: ChangeMeta) {
    return this.#edit(profile.id, async (p) => {
      const entries = this.#entries(p);
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
      const entries = this.#entries(p);
      const next = entries.map((e) =>
        e.source.includes("#")
          ? resolveEntry(this.#o.db, this.#o.storehouse, e.source, e.priority, canRead)
          : e,
      );
      const d = diffEntries(entries, next);
      if (d.changed.length === 0) return { profile: p, generation: null };
      return this.#commit(p, next, "upgrade", meta);
    });
  }

  /** Makes generation `to` live (default: the newest one before the live one), as `nix-env --rollback` does. */
  rollback(profile: ProfileRow, to: number | undefined, meta: ChangeMeta): Promise<EditResult> {
    return this.#edit(profile.id, async (p) => {
      const { db } = this.#o;
      if (p.current === null) throw new ConflictError(`${p.name} has no generation yet`);
      let target = to;
      if (target === undefined) {
        const prev = db
          .select({ number: profileGenerations.number })
          .from(profileGenerations)
          .where(eq(profileGenerations.profileId, p.id))
          .orderBy(desc(profileGenerations.number))
          .all()
          .find((g) => g.number < (p.current ?? 0));
        if (!prev)
          throw new ConflictError(`generation ${p.current} is the first: there is nothing to roll back to`);
        target = prev.number;
      }
      const generation = getGeneration(db, p, target);
      const result = db.transaction((tx) => {
        const updated = tx
          .update(profiles)
          .set({ current: target })
          .where(eq(profiles.id, p.id))
          .returning()
          .get();
        tx.insert(profileEvents)
          .values({
            profileId: p.id,
            action: "rollback",
            fromGeneration: p.current,
            toGeneration: target,
            ...eventMeta(meta),
          })
          .run();
        appendProfileChange(tx, {
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
