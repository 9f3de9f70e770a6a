// /storehouse/gc, /storehouse/usage, /storehouse/pins and /orgs/:org/retention: the Storehouse's lifecycle.
// The whole Storehouse is the admin's; an org's owner collects, pins and sets retention for that org only.
import { Hono } from "hono";
import { Name } from "../../lib/api/common.js";
import {
  GcBody,
  type GcResponse,
  PinBody,
  type PinResponse,
  type PinsRemovedResponse,
  type PinsResponse,
  RetentionBody,
  type RetentionResponse,
  type StorehouseUsageResponse,
} from "../../lib/api/storehouse-gc.js";
import { InvalidInputError } from "../errors.js";
import { requireToken } from "../http/auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { jsonBody, param } from "../http/validate.js";
import { getOrg } from "../orgs/orgs.js";
import { ownedOrgIds, readableOrgIds, requireAdmin, requireRole } from "../orgs/permissions.js";
import { actorOf } from "../orgs/tokens.js";
import { addPin, listPins, removePins } from "./gc/pins.js";
import { presentPin, presentUsage } from "./gc/present.js";
import type { QuotaGuard } from "./gc/quota.js";
import { orgRetentionOf, setOrgRetention } from "./gc/retention.js";
import type { GcService } from "./gc/service.js";

export function gcRoutes(ctx: AppContext, gc: GcService, quota?: QuotaGuard): Hono<AppEnv> {
  const auth = requireToken(ctx);
  const orgNamed = async (raw: string | undefined) => {
    if (raw === undefined) return undefined;
    const name = Name.safeParse(raw);
    if (!name.success) throw new InvalidInputError(`org ${JSON.stringify(raw)} is not an org name`);
    return await getOrg(ctx.db, name.data);
  };
  return new Hono<AppEnv>()
    .post("/storehouse/gc", auth, async (c) => {
      const token = c.get("token");
      const body = await jsonBody(c, GcBody);
      const org = await orgNamed(body.org);
      if (org) await requireRole(ctx.db, token, org, "owner", "collect the Storehouse paths of");
      else requireAdmin(token, "collect the whole Storehouse (an org's owner may: flox gc --org ORG)");
      const report = await gc.run({
        dryRun: body.dryRun ?? false,
        orgId: org?.id ?? null,
        trigger: `api:${actorOf(token)}`,
      });
      return c.json({ gc: report } satisfies GcResponse);
    })
    .get("/storehouse/usage", auth, async (c) => {
      const token = c.get("token");
      const org = await orgNamed(c.req.query("org"));
      if (org) await requireRole(ctx.db, token, org, "reader", "see the Storehouse usage of");
      else requireAdmin(token, "see the whole Storehouse's usage (others: flox storehouse usage --org ORG)");
      const usage = presentUsage(await gc.usage(org?.id ?? null), gc);
      return c.json({ usage } satisfies StorehouseUsageResponse);
    })
    .get("/storehouse/pins", auth, async (c) => {
      const pins = await listPins(ctx.db, await readableOrgIds(ctx.db, c.get("token")));
      return c.json({ pins: pins.map(presentPin) } satisfies PinsResponse);
    })
    .post("/storehouse/pins", auth, async (c) => {
      const token = c.get("token");
      const body = await jsonBody(c, PinBody);
      const org = await orgNamed(body.org);
      if (org) await requireRole(ctx.db, token, org, "owner", "pin Storehouse paths for");
      else
        requireAdmin(
          token,
          "pin paths for the whole server (an org's owner may: flox pin add PATH --org ORG)",
        );
      if (body.until && Date.parse(body.until) <= Date.now())
        throw new InvalidInputError(`--until ${body.until} is in the past; give a later date`);
      const pin = await addPin(ctx.db, {
        storePath: body.storePath,
        name: body.name,
        until: body.until,
        orgId: org?.id ?? null,
        createdBy: actorOf(token),
      });
      ctx.logger.info({ pin: pin.id, storePath: pin.storePath, by: token.id }, "Storehouse path pinned");
      return c.json({ pin: presentPin(pin) } satisfies PinResponse, 201);
    })
    .delete("/storehouse/pins", auth, async (c) => {
      const token = c.get("token");
      const ref = c.req.query("ref");
      if (!ref) throw new InvalidInputError("say which pin: ?ref=NAME or ?ref=/nix/store/…");
      // Admin: any pin; an owner: the pins of the orgs it owns.
      const removed = await removePins(ctx.db, ref, await ownedOrgIds(ctx.db, token));
      ctx.logger.info({ pins: removed.map((p) => p.id), by: token.id }, "Storehouse pins removed");
      return c.json({ removed: removed.map(presentPin) } satisfies PinsRemovedResponse);
    })
    .get("/orgs/:org/retention", auth, async (c) => {
      const org = await getOrg(ctx.db, param(c, "org", Name));
      await requireRole(ctx.db, c.get("token"), org, "reader", "see the retention of");
      const r = await orgRetentionOf(ctx.db, org.id);
      return c.json({ retention: { org: org.name, ...r } } satisfies RetentionResponse);
    })
    .put("/orgs/:org/retention", auth, async (c) => {
      const token = c.get("token");
      const org = await getOrg(ctx.db, param(c, "org", Name));
      await requireRole(ctx.db, token, org, "owner", "change the retention of");
      const body = await jsonBody(c, RetentionBody);
      if (body.quotaBytes !== undefined) requireAdmin(token, "set an org's Storehouse quota");
      const r = await setOrgRetention(ctx.db, org.id, body);
      quota?.invalidate();
      ctx.logger.info({ org: org.name, ...r, by: token.id }, "org retention changed");
      return c.json({ retention: { org: org.name, ...r } } satisfies RetentionResponse);
    });
}
