// Profiles: create, show, install/remove/upgrade/rollback (members), generations and diffs (readers).
import { type Context, Hono } from "hono";
import { z } from "zod";
import { Name } from "../../lib/api/common.js";
import {
  CreateProfileBody,
  type GenerationDiffResponse,
  type GenerationsResponse,
  InstallBody,
  type ProfileEditResponse,
  type ProfileResponse,
  type ProfilesResponse,
  RemoveBody,
  RollbackBody,
  ScheduleBody,
  type ScheduleResponse,
  UpgradeBody,
} from "../../lib/api/profiles.js";
import { InvalidInputError } from "../errors.js";
import { requireToken } from "../http/auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { jsonBody, param } from "../http/validate.js";
import { orgsOfQuery } from "../orgs/org-filter.js";
import { getOrg } from "../orgs/orgs.js";
import { requireRole, roleAtLeast, roleIn } from "../orgs/permissions.js";
import { actorOf, type TokenRecord } from "../orgs/tokens.js";
import type { EditResult, ProfileEditor } from "./editor.js";
import type { CanRead } from "./entries.js";
import { presentEvent, presentGeneration, presentGenerations, presentProfile } from "./present.js";
import {
  type ChangeMeta,
  createProfile,
  diffEntries,
  getGeneration,
  getProfile,
  listEvents,
  listGenerations,
  listProfiles,
} from "./profiles.js";
import { type ProfileScheduler, scheduleOf, setSchedule } from "./schedules.js";

const Number_ = z.coerce.number().int().positive().max(1_000_000_000);

const metaOf = (
  token: TokenRecord,
  body: { host?: string; command?: string; reason?: string },
): ChangeMeta => ({
  author: actorOf(token),
  host: body.host,
  command: body.command,
  reason: body.reason,
});

export function profileRoutes(
  ctx: AppContext,
  editor?: ProfileEditor,
  scheduler?: ProfileScheduler,
): Hono<AppEnv> {
  const { db } = ctx;
  const auth = requireToken(ctx);
  const open = async (c: Context<AppEnv>, role: "reader" | "member") => {
    const org = await getOrg(db, param(c, "org", Name));
    await requireRole(db, c.get("token"), org, role);
    return { org, profile: await getProfile(db, org, param(c, "name", Name)) };
  };
  const needEditor = (): ProfileEditor => {
    if (!editor) throw new Error("this app was made without a profile editor (API-only tests)");
    return editor;
  };
  const canRead =
    (token: TokenRecord): CanRead =>
    async (org) =>
      roleAtLeast(await roleIn(db, token, org), "reader");
  const answer = async (c: Context<AppEnv>, org: string, r: EditResult) => {
    const events = await listEvents(db, r.profile.id);
    const gens = await listGenerations(db, r.profile.id);
    const generation = r.generation
      ? presentGeneration(
          r.generation,
          r.profile,
          events,
          gens.filter((g) => g.number < (r.generation?.number ?? 0)).pop(),
        )
      : null;
    return c.json({
      profile: await presentProfile(db, org, r.profile),
      generation,
    } satisfies ProfileEditResponse);
  };
  return new Hono<AppEnv>()
    .get("/profiles", auth, async (c) => {
      const orgs = await orgsOfQuery(db, c.get("token"), c.req.query("org"));
      const names = new Map(orgs.map((o) => [o.id, o.name]));
      const rows = await listProfiles(
        db,
        orgs.map((o) => o.id),
      );
      const list = await Promise.all(rows.map((p) => presentProfile(db, names.get(p.orgId) ?? "?", p)));
      return c.json({ profiles: list } satisfies ProfilesResponse);
    })
    .post("/orgs/:org/profiles", auth, async (c) => {
      const org = await getOrg(db, param(c, "org", Name));
      await requireRole(db, c.get("token"), org, "member");
      const body = await jsonBody(c, CreateProfileBody);
      const p = await createProfile(db, org, body.name, metaOf(c.get("token"), body));
      return c.json({ profile: await presentProfile(db, org.name, p) } satisfies ProfileResponse, 201);
    })
    .get("/profiles/:org/:name", auth, async (c) => {
      const { org, profile } = await open(c, "reader");
      return c.json({ profile: await presentProfile(db, org.name, profile) } satisfies ProfileResponse);
    })
    .get("/profiles/:org/:name/generations", auth, async (c) => {
      const { profile } = await open(c, "reader");
      return c.json({
        generations: await presentGenerations(db, profile),
        events: (await listEvents(db, profile.id)).map(presentEvent),
      } satisfies GenerationsResponse);
    })
    .get("/profiles/:org/:name/diff", auth, async (c) => {
      const { profile } = await open(c, "reader");
      const from = Number_.safeParse(c.req.query("from"));
      const to = Number_.safeParse(c.req.query("to"));
      if (!from.success || !to.success) {
        throw new InvalidInputError("give two generation numbers: …/diff?from=N&to=M");
      }
      const a = await getGeneration(db, profile, from.data);
      const b = await getGeneration(db, profile, to.data);
      return c.json({
        from: a.number,
        to: b.number,
        ...diffEntries(a.entries, b.entries),
      } satisfies GenerationDiffResponse);
    })
    .post("/profiles/:org/:name/install", auth, async (c) => {
      const { org, profile } = await open(c, "member");
      const body = await jsonBody(c, InstallBody);
      const token = c.get("token");
      const r = await needEditor().install(
        profile,
        body.refs,
        body.priority,
        canRead(token),
        metaOf(token, body),
      );
      return answer(c, org.name, r);
    })
    .post("/profiles/:org/:name/remove", auth, async (c) => {
      const { org, profile } = await open(c, "member");
      const body = await jsonBody(c, RemoveBody);
      return answer(
        c,
        org.name,
        await needEditor().remove(profile, body.labels, metaOf(c.get("token"), body)),
      );
    })
    .post("/profiles/:org/:name/upgrade", auth, async (c) => {
      const { org, profile } = await open(c, "member");
      const body = await jsonBody(c, UpgradeBody);
      const token = c.get("token");
      return answer(c, org.name, await needEditor().upgrade(profile, canRead(token), metaOf(token, body)));
    })
    .get("/profiles/:org/:name/schedule", auth, async (c) => {
      const { profile } = await open(c, "reader");
      return c.json({ schedule: await scheduleOf(db, profile.id) } satisfies ScheduleResponse);
    })
    .put("/profiles/:org/:name/schedule", auth, async (c) => {
      const { org, profile } = await open(c, "member");
      const body = await jsonBody(c, ScheduleBody);
      await setSchedule(db, profile.id, body);
      await scheduler?.reload(profile.id);
      ctx.signals.publish("schedule", profile.id);
      ctx.logger.info({ profile: `${org.name}/${profile.name}`, ...body }, "profile schedule set");
      return c.json({ schedule: await scheduleOf(db, profile.id) } satisfies ScheduleResponse);
    })
    .post("/profiles/:org/:name/rollback", auth, async (c) => {
      const { org, profile } = await open(c, "member");
      const body = await jsonBody(c, RollbackBody);
      return answer(c, org.name, await needEditor().rollback(profile, body.to, metaOf(c.get("token"), body)));
    });
}
