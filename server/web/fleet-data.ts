// The data of the fleet pages (channels, profiles, machines, Storehouse, builders). Each is made of the same
// presenters as its /api/v1 twin, so `Accept: application/json` on a page answers exactly what the API says.
import type { BuildersResponse } from "../../lib/api/builders.js";
import type { Channel, ChannelHistoryPoint, ChannelsResponse } from "../../lib/api/channels.js";
import type { Machine } from "../../lib/api/machines.js";
import type { Generation, Profile, ProfileEvent, ProfileStatus } from "../../lib/api/profiles.js";
import type { StorehouseSummary } from "../../lib/api/storehouse.js";
import { buildersOf } from "../builders/present.js";
import { channelName } from "../channels/channels.js";
import { presentChannel, presentChannelHistory, presentChannelSummary } from "../channels/present.js";
import type { Db } from "../db/open.js";
import { NotFoundError } from "../errors.js";
import { findJobset, listJobsets } from "../evaluations/data.js";
import { listMachines, profileStatus } from "../machines/status.js";
import type { OrgRecord } from "../orgs/orgs.js";
import type { TokenRecord } from "../orgs/tokens.js";
import { presentEvent, presentGenerations, presentProfile } from "../profiles/present.js";
import { findProfile, listEvents, listProfiles } from "../profiles/profiles.js";
import { type Schedule, scheduleOf } from "../profiles/schedules.js";
import type { StorehouseRouteOptions } from "../storehouse/cache-routes.js";
import { storehouseSummaryWithGc } from "../storehouse/present.js";

/** Is a machine's event stream open now (MachineHub.connected). */
export type Connected = (machineId: number) => boolean;

/** `/ORG/channels` = `GET /api/v1/channels?org=ORG`. */
export async function orgChannelsData(db: Db, origin: string, org: OrgRecord): Promise<ChannelsResponse> {
  return {
    channels: await Promise.all(
      (await listJobsets(db, org)).map((j) => presentChannelSummary(db, origin, org, j)),
    ),
  };
}

/** `/ORG/channels/BRANCH` = `GET /api/v1/channels/ORG/BRANCH` (`channel`) + `…/history` (`history`). */
export interface ChannelPageData {
  channel: Channel;
  history: ChannelHistoryPoint[];
}

export async function channelData(
  db: Db,
  origin: string,
  org: OrgRecord,
  branch: string,
): Promise<ChannelPageData> {
  const jobset = await findJobset(db, org, branch);
  if (!jobset) {
    throw new NotFoundError(
      `org "${org.name}" has no channel ${channelName(org.name, branch)}: a push to branch ${branch} makes one`,
    );
  }
  return {
    channel: await presentChannel(db, origin, org, jobset),
    history: await presentChannelHistory(db, jobset.id),
  };
}

/** `/ORG/profiles` = `GET /api/v1/profiles?org=ORG`. */
export async function orgProfilesData(db: Db, org: OrgRecord): Promise<{ profiles: Profile[] }> {
  return {
    profiles: await Promise.all(
      (await listProfiles(db, [org.id])).map((p) => presentProfile(db, org.name, p)),
    ),
  };
}

/**
 * `/ORG/profiles/NAME` = `GET /api/v1/profiles/ORG/NAME` (`profile`) + `…/generations` (`generations`, `events`)
 * + `…/schedule` (`schedule`) + `…/status` (`status`).
 */
export interface ProfilePageData {
  profile: Profile;
  generations: Generation[];
  events: ProfileEvent[];
  schedule: Schedule;
  status: ProfileStatus;
}

export async function profileData(
  db: Db,
  org: OrgRecord,
  name: string,
  connected: Connected,
): Promise<ProfilePageData> {
  const p = await findProfile(db, org, name);
  if (!p) throw new NotFoundError(`org "${org.name}" has no profile "${name}"`);
  return {
    profile: await presentProfile(db, org.name, p),
    generations: await presentGenerations(db, p),
    events: (await listEvents(db, p.id)).map(presentEvent),
    schedule: await scheduleOf(db, p.id),
    status: await profileStatus(db, org.name, p, connected),
  };
}

/** `/ORG/machines` = `GET /api/v1/machines?org=ORG`. */
export async function orgMachinesData(
  db: Db,
  org: OrgRecord,
  connected: Connected,
): Promise<{ machines: Machine[] }> {
  return { machines: await listMachines(db, { orgIds: [org.id] }, connected) };
}

/** `/-/storehouse` = `GET /api/v1/storehouse`: figures, the same for every viewer but the per-org usage lines. */
export async function storehouseData(
  db: Db,
  opts: StorehouseRouteOptions,
  origin: string,
  token: TokenRecord,
): Promise<{ storehouse: StorehouseSummary }> {
  return { storehouse: await storehouseSummaryWithGc(db, opts, origin, token) };
}

/** `/-/builders` = `GET /api/v1/builders`: running builds of orgs the viewer may not read are only counted. */
export async function buildersData(db: Db, token: TokenRecord): Promise<BuildersResponse> {
  return buildersOf(db, token);
}
