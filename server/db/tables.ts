// The tables every query names, switched once at open time to the dialect in use. Queries are typed against the
// PostgreSQL tables (schema-pg.ts); on SQLite these bindings hold schema.ts's tables, which have the same names,
// columns and result types, so one query text runs on both (ES-module live bindings: importers see the switch).
import { type SQL, sql } from "drizzle-orm";
import * as lite from "./schema.js";
import * as pg from "./schema-pg.js";

export type { ProfileEntry } from "./schema.js";
export type Dialect = "sqlite" | "postgres";

export let orgs = pg.orgs;
export let users = pg.users;
export let memberships = pg.memberships;
export let tokens = pg.tokens;
export let pushes = pg.pushes;
export let cachePaths = pg.cachePaths;
export let jobsets = pg.jobsets;
export let evaluations = pg.evaluations;
export let builds = pg.builds;
export let buildDeps = pg.buildDeps;
export let evalJobs = pg.evalJobs;
export let evalProblems = pg.evalProblems;
export let buildLeases = pg.buildLeases;
export let builders = pg.builders;
export let buildResults = pg.buildResults;
export let channelPoints = pg.channelPoints;
export let profiles = pg.profiles;
export let profileGenerations = pg.profileGenerations;
export let profileEvents = pg.profileEvents;
export let profileSchedules = pg.profileSchedules;
export let machines = pg.machines;
export let subscriptions = pg.subscriptions;
export let changeEvents = pg.changeEvents;
export let machineProfiles = pg.machineProfiles;
export let webSessions = pg.webSessions;
export let orgRetention = pg.orgRetention;
export let gcPins = pg.gcPins;
export let gcRuns = pg.gcRuns;
export let gcJournal = pg.gcJournal;
export let cachePathOrgs = pg.cachePathOrgs;
export let relaySessions = pg.relaySessions;
export let relayWants = pg.relayWants;
export let serverSecrets = pg.serverSecrets;

/** The current time as the schema stores it (an ISO string on SQLite, a timestamptz on PostgreSQL). */
export let nowSql: SQL = sql`now()`;

/** The dialect the tables are bound to; set by openDatabase before any query. */
export let dialect: Dialect = "postgres";

/** Binds every table to `to`'s schema. One process uses one dialect at a time (migrate-db switches between). */
export function useDialect(to: Dialect): void {
  dialect = to;
  const s = (to === "postgres" ? pg : lite) as unknown as typeof pg;
  orgs = s.orgs;
  users = s.users;
  memberships = s.memberships;
  tokens = s.tokens;
  pushes = s.pushes;
  cachePaths = s.cachePaths;
  jobsets = s.jobsets;
  evaluations = s.evaluations;
  builds = s.builds;
  buildDeps = s.buildDeps;
  evalJobs = s.evalJobs;
  evalProblems = s.evalProblems;
  buildLeases = s.buildLeases;
  builders = s.builders;
  buildResults = s.buildResults;
  channelPoints = s.channelPoints;
  profiles = s.profiles;
  profileGenerations = s.profileGenerations;
  profileEvents = s.profileEvents;
  profileSchedules = s.profileSchedules;
  machines = s.machines;
  subscriptions = s.subscriptions;
  changeEvents = s.changeEvents;
  machineProfiles = s.machineProfiles;
  webSessions = s.webSessions;
  orgRetention = s.orgRetention;
  gcPins = s.gcPins;
  gcRuns = s.gcRuns;
  gcJournal = s.gcJournal;
  cachePathOrgs = s.cachePathOrgs;
  relaySessions = s.relaySessions;
  relayWants = s.relayWants;
  serverSecrets = s.serverSecrets;
  nowSql = to === "postgres" ? sql`now()` : sql`(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`;
}
