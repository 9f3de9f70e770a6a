// Machines (machine tokens): register, subscribe, the event stream (SSE), reports. People: the machine list and a
// profile's rollout status.

import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { Name } from "../../lib/api/common.js";
import {
  type MachineResponse,
  type MachinesResponse,
  RegisterMachineBody,
  ReportBody,
  SubscriptionBody,
} from "../../lib/api/machines.js";
import type { ProfileStatusResponse } from "../../lib/api/profiles.js";
import { DEFAULT_LIVE } from "../config.js";
import { InvalidInputError } from "../errors.js";
import { requireToken } from "../http/auth.js";
import type { AppContext, AppEnv } from "../http/context.js";
import { errorBody } from "../http/errors.js";
import { jsonBody, param } from "../http/validate.js";
import { orgsOfQuery } from "../orgs/org-filter.js";
import { getOrg } from "../orgs/orgs.js";
import { readableOrgIds, requireRole } from "../orgs/permissions.js";
import { findTokenById } from "../orgs/tokens.js";
import { getProfile } from "../profiles/profiles.js";
import { type FeedEvent, readEvents } from "./feed.js";
import { MachineHub } from "./hub.js";
import {
  findMachineOfToken,
  machineOf,
  registerMachine,
  requireMachineToken,
  touchMachine,
} from "./machines.js";
import { listMachines, profileStatus, recordReport } from "./status.js";
import { listSubscriptions, snapshotOf, subscribe, unsubscribe } from "./subscriptions.js";

export interface MachineRouteOptions {
  /** Wakes the open streams when the feed grows; API-only tests get one of their own. */
  hub?: MachineHub;
}

const EventId = /^[0-9]{1,15}$/;
const BATCH = 1000;

/** Where the stream resumes: `Last-Event-ID` (what EventSource sends on reconnect), else `?since=`, else 0. */
function resumePoint(header: string | undefined, query: string | undefined): number {
  const raw = header?.trim() || query?.trim() || "0";
  if (!EventId.test(raw)) {
    throw new InvalidInputError(
      `Last-Event-ID / since must be the id of an event this stream sent (a whole number), not ${JSON.stringify(raw)}`,
    );
  }
  return Number(raw);
}

/** A body for DELETE: `?profile=acme/dev` or `?channel=acme`. */
function subscriptionFromQuery(profile: string | undefined, channel: string | undefined) {
  const parsed = SubscriptionBody.safeParse({
    ...(profile === undefined ? {} : { profile }),
    ...(channel === undefined ? {} : { channel }),
  });
  if (!parsed.success) {
    throw new InvalidInputError(
      `say what to stop following: ?profile=ORG/NAME or ?channel=ORG[/BRANCH] (${parsed.error.issues[0]?.message ?? "invalid"})`,
    );
  }
  return parsed.data;
}

export function machineRoutes(ctx: AppContext, opts: MachineRouteOptions = {}): Hono<AppEnv> {
  const { db } = ctx;
  const hub = opts.hub ?? new MachineHub(db, ctx.logger);
  const auth = requireToken(ctx);
  const connected = (id: number) => hub.connected(id);
  const heartbeatMs = (ctx.live ?? DEFAULT_LIVE).sseHeartbeatSeconds * 1000;
  const me = async (machineId: number) => {
    const [machine] = await listMachines(db, { onlyId: machineId }, connected);
    if (!machine) throw new Error(`machine ${machineId} vanished`);
    return machine;
  };

  return new Hono<AppEnv>()
    .post("/machines", auth, async (c) => {
      requireMachineToken(c.get("token"));
      const body = await jsonBody(c, RegisterMachineBody);
      const { machine, created } = await registerMachine(db, c.get("token"), body.name);
      if (created) ctx.logger.info({ machine: machine.name, org: machine.orgId }, "machine registered");
      return c.json({ machine: await me(machine.id) } satisfies MachineResponse, created ? 201 : 200);
    })
    .get("/machines", auth, async (c) => {
      const token = c.get("token");
      if (token.scope === "machine") {
        // A machine sees itself only.
        const own = await findMachineOfToken(db, token.id);
        return c.json({ machines: own ? [await me(own.id)] : [] } satisfies MachinesResponse);
      }
      const org = c.req.query("org");
      const orgIds =
        org === undefined
          ? await readableOrgIds(db, token)
          : (await orgsOfQuery(db, token, org)).map((o) => o.id);
      const machines = await listMachines(db, { orgIds }, connected);
      return c.json({ machines } satisfies MachinesResponse);
    })
    .get("/machines/me", auth, async (c) => {
      const machine = await machineOf(db, c.get("token"));
      return c.json({ machine: await me(machine.id) } satisfies MachineResponse);
    })
    .post("/machines/me/subscriptions", auth, async (c) => {
      const machine = await machineOf(db, c.get("token"));
      const body = await jsonBody(c, SubscriptionBody);
      const { created } = await subscribe(db, machine, body);
      hub.resync(machine.id);
      return c.json({ machine: await me(machine.id) } satisfies MachineResponse, created ? 201 : 200);
    })
    .delete("/machines/me/subscriptions", auth, async (c) => {
      const machine = await machineOf(db, c.get("token"));
      await unsubscribe(db, machine, subscriptionFromQuery(c.req.query("profile"), c.req.query("channel")));
      hub.resync(machine.id);
      return c.json({ machine: await me(machine.id) } satisfies MachineResponse);
    })
    .post("/machines/me/reports", auth, async (c) => {
      const machine = await machineOf(db, c.get("token"));
      const body = await jsonBody(c, ReportBody);
      await recordReport(db, machine, body);
      if (body.status === "failed") {
        ctx.logger.warn({ machine: machine.name, ...body }, "machine failed to switch a profile");
      }
      return c.body(null, 204);
    })
    .get("/machines/me/events", auth, async (c) => {
      const token = c.get("token");
      const machine = await machineOf(db, token);
      let last = resumePoint(c.req.header("last-event-id"), c.req.query("since"));
      if (hub.closed) {
        // Shutting down. `Connection: close`, or the client would come straight back on this kept-alive socket.
        return c.json(
          errorBody("shutting_down", "the flox server is restarting; connect again in a moment"),
          503,
          {
            connection: "close",
            "retry-after": "2",
          },
        );
      }
      await touchMachine(db, machine.id);
      ctx.logger.info({ machine: machine.name, since: last }, "machine connected");
      const res = streamSSE(c, async (stream) => {
        let open = true;
        // The first pass, and any pass after the subscriptions changed, reads the table; the others take what the
        // hub handed over.
        let resync = true;
        let handed: FeedEvent[][] = [];
        let wakeUp: (() => void) | undefined;
        const stop = () => {
          open = false;
          wakeUp?.();
        };
        const detach = hub.attach(machine.id, {
          deliver: (events) => {
            handed.push(events);
            wakeUp?.();
          },
          resync: () => {
            resync = true;
            wakeUp?.();
          },
          stop,
        });
        stream.onAbort(stop);
        let keys = new Set<string>();
        // Snapshots already sent, by subscription: a subscription added later gets its own at once, and one
        // removed is told at once (the agent unpins what it kept for it).
        const known = new Map<string, { of: "profile" | "channel"; name: string }>();
        /** What to send now, gathered in one synchronous stretch so that no transaction lands in between. */
        const collect = async (): Promise<FeedEvent[]> => {
          const out: FeedEvent[] = [];
          if (resync) {
            resync = false;
            for (;;) {
              const batch = await readEvents(db, last, BATCH, machine.id);
              out.push(...batch);
              last = batch.at(-1)?.event.id ?? last;
              if (batch.length < BATCH) break;
            }
            const subs = (await listSubscriptions(db, [machine.id])).get(machine.id) ?? [];
            keys = new Set(subs.map((s) => s.key));
            for (const s of subs) {
              if (known.has(s.key)) continue;
              out.push({ key: s.key, event: await snapshotOf(db, s) });
              known.set(s.key, { of: s.kind, name: s.name });
            }
            for (const [k, { of, name }] of known) {
              if (keys.has(k)) continue;
              known.delete(k);
              out.push({ key: k, event: { kind: "unsubscribed", id: null, of, name } });
            }
          }
          for (const events of handed) {
            for (const fe of events) {
              const id = fe.event.id ?? 0;
              if (id > last && keys.has(fe.key)) {
                out.push(fe);
                last = id;
              }
            }
          }
          handed = [];
          return out;
        };
        const send = async (events: FeedEvent[]) => {
          for (const fe of events) {
            if (!open) return;
            fe.data ??= JSON.stringify(fe.event);
            await stream.writeSSE({
              event: fe.event.kind,
              data: fe.data,
              ...(fe.event.id === null ? {} : { id: String(fe.event.id) }),
            });
          }
        };
        const beat = setInterval(() => {
          // A revoked token ends the stream at the next beat (every request checks it; a stream is one request).
          findTokenById(db, token.id).then(
            (now) => {
              if (now?.revokedAt) stop();
              else void stream.write(": ping\n\n");
            },
            // The database is away for a moment: the stream stays, the next beat looks again.
            () => void stream.write(": ping\n\n"),
          );
        }, heartbeatMs);
        try {
          await stream.write("retry: 2000\n\n");
          await send(await collect());
          await stream.writeSSE({ event: "ready", data: JSON.stringify({ last }) });
          while (open) {
            if (!resync && handed.length === 0) await new Promise<void>((r) => (wakeUp = r));
            wakeUp = undefined;
            if (!open) break;
            await send(await collect());
          }
        } finally {
          clearInterval(beat);
          detach();
          try {
            await touchMachine(db, machine.id);
          } catch {
            // The database closed under a server shutdown.
          }
          ctx.logger.info({ machine: machine.name, last }, "machine disconnected");
        }
      });
      // The stream is this connection's only use: closed with it, so a server shutdown never waits on the socket.
      res.headers.set("connection", "close");
      return res;
    })
    .get("/profiles/:org/:name/status", auth, async (c) => {
      const org = await getOrg(db, param(c, "org", Name));
      await requireRole(db, c.get("token"), org, "reader");
      const profile = await getProfile(db, org, param(c, "name", Name));
      return c.json({
        status: await profileStatus(db, org.name, profile, connected),
      } satisfies ProfileStatusResponse);
    });
}
