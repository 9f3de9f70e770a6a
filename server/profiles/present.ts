// Profile records → the API's JSON shapes; shared by the JSON API (routes.ts) and the web pages.
import type { Generation, Profile, ProfileEvent } from "../../lib/api/profiles.js";
import type { Db } from "../db/open.js";
import {
  currentGeneration,
  diffEntries,
  type GenerationRow,
  listEvents,
  listGenerations,
  type ProfileEventRow,
  type ProfileRow,
} from "./profiles.js";

export const presentEvent = (e: ProfileEventRow): ProfileEvent => ({
  action: e.action,
  from: e.fromGeneration,
  to: e.toGeneration,
  author: e.author,
  host: e.host,
  command: e.command,
  reason: e.reason,
  createdAt: e.createdAt,
});

/** One generation, with the event that made it and what changed against `previous`. */
export function presentGeneration(
  g: GenerationRow,
  profile: ProfileRow,
  events: ProfileEventRow[],
  previous: GenerationRow | undefined,
): Generation {
  const madeBy = events.find((e) => e.toGeneration === g.number && e.action !== "rollback");
  return {
    number: g.number,
    storePath: g.storePath,
    entries: g.entries,
    live: profile.current === g.number,
    createdAt: g.createdAt,
    madeBy: madeBy ? presentEvent(madeBy) : null,
    changes: diffEntries(previous?.entries ?? [], g.entries),
  };
}

/** Oldest first. */
export async function presentGenerations(db: Db, profile: ProfileRow): Promise<Generation[]> {
  const events = await listEvents(db, profile.id);
  const gens = await listGenerations(db, profile.id);
  return gens.map((g, i) => presentGeneration(g, profile, events, gens[i - 1]));
}

export async function presentProfile(db: Db, org: string, p: ProfileRow): Promise<Profile> {
  const g = await currentGeneration(db, p);
  return {
    org,
    name: p.name,
    current: p.current,
    storePath: g?.storePath ?? null,
    entries: g?.entries ?? [],
    createdAt: p.createdAt,
  };
}
