// Profile sync, shared by `flox sync` and the endpoint agent (`flox agent --profiles-dir`): follows the machine's
// event stream and keeps DIR/<org>/<profile> on each profile's live generation, reporting every switch. It manages
// links only; the agent pins each generation's closure through beforeSwitch/afterSwitch.
//
// On (re)connect the server sends the events missed since the last one seen, then a snapshot of each subscription,
// then `ready`. Those are gathered and only the newest state per profile is applied: a machine that was away
// during several generations goes straight to the live one (the ones in between are skipped, not applied).
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ApiClient } from "./api/client.js";
import { ApiError } from "./api/errors.js";
import { ChannelChange, ProfileChange, type ReportBody, Unsubscribed } from "./api/machines.js";
import { switchProfile } from "./profile-links.js";
import { Backoff } from "./retry.js";
import { readSse } from "./sse.js";

export interface SyncOptions {
  server: string;
  token: string;
  profilesDir: string;
  /** Stop once caught up (exit 1 if a switch failed) instead of following. */
  once?: boolean;
  /** A connection that carried nothing (not even a heartbeat) this long is dropped and made again. */
  silenceMs?: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /**
   * Runs before a generation's link is made (the endpoint agent pins its closure here); when it throws, the
   * switch fails and is reported so. `afterSwitch` runs once the link points at it (the agent schedules the
   * unpinning of the generation before).
   */
  beforeSwitch?: (e: LiveGeneration) => Promise<void>;
  afterSwitch?: (e: LiveGeneration) => Promise<void> | void;
  /** At each `ready`: the profiles this machine follows now (a snapshot comes for each), e.g. to drop the others'. */
  caughtUp?: (profiles: string[]) => void;
  /** While connected: the machine stopped following this profile (its links stay; the agent unpins). */
  unsubscribed?: (profile: string) => void;
}

export interface LiveGeneration {
  profile: string;
  generation: number;
  storePath: string;
}

const STATE_FILE = ".flox-sync.json";

interface State {
  server: string;
  lastEventId: number;
}

async function loadState(dir: string, server: string): Promise<number> {
  try {
    const s = JSON.parse(await readFile(join(dir, STATE_FILE), "utf8")) as State;
    // Event ids are one server's: another server's would skip events.
    return s.server === server && Number.isInteger(s.lastEventId) ? s.lastEventId : 0;
  } catch {
    return 0;
  }
}

async function saveState(dir: string, state: State): Promise<void> {
  const tmp = join(dir, `${STATE_FILE}.tmp-${process.pid}`);
  await writeFile(tmp, `${JSON.stringify(state)}\n`);
  await rename(tmp, join(dir, STATE_FILE));
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((done) => {
    if (signal.aborted) return done();
    const onAbort = () => {
      clearTimeout(t);
      done();
    };
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      done();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });

/** Runs until `signal` aborts (answers 0), or a fatal answer (401, 403, 404: answers 1); with `once`, see there. */
export async function runSync(o: SyncOptions): Promise<number> {
  const log = o.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const signal = o.signal ?? new AbortController().signal;
  const client = new ApiClient({ server: o.server, token: o.token });
  const dir = o.profilesDir;
  await mkdir(dir, { recursive: true });
  // Several servers of one fleet share one database, so their event ids are one sequence: the list is the key.
  const fleet = client.servers.urls.join(",");
  let lastId = await loadState(dir, fleet);
  let failures = 0;
  // Switches run one at a time, in the order decided; a newer event for a profile replaces a waiting (jittered) one.
  let queue: Promise<void> = Promise.resolve();
  const waiting = new Map<string, NodeJS.Timeout>();

  const report = async (body: ReportBody) => {
    try {
      await client.report(body);
    } catch (err) {
      // The next connect sends a snapshot, and the switch (a no-op then) is reported again.
      log(`${body.profile}: could not report generation ${body.generation}: ${(err as Error).message}`);
    }
  };

  const apply = async (e: ProfileChange) => {
    if (e.generation === null || e.storePath === null) return;
    const [org = "", name = ""] = e.profile.split("/");
    const live = { profile: e.profile, generation: e.generation, storePath: e.storePath };
    try {
      await o.beforeSwitch?.(live);
      const changed = await switchProfile(dir, org, name, e.generation, e.storePath);
      await o.afterSwitch?.(live);
      log(
        changed
          ? `${e.profile}: generation ${e.generation} is live (${e.storePath})`
          : `${e.profile}: generation ${e.generation} was live already`,
      );
      await report({ profile: e.profile, generation: e.generation, status: "ok" });
    } catch (err) {
      failures++;
      const message = (err as Error).message;
      log(`${e.profile}: switching to generation ${e.generation} failed: ${message}`);
      await report({ profile: e.profile, generation: e.generation, status: "failed", message });
    }
  };

  const enqueue = (e: ProfileChange) => {
    clearTimeout(waiting.get(e.profile));
    waiting.delete(e.profile);
    const run = () => {
      queue = queue.then(() => apply(e));
    };
    if (e.jitterSeconds > 0 && !e.snapshot) {
      const delay = Math.floor(Math.random() * e.jitterSeconds * 1000);
      log(`${e.profile}: generation ${e.generation} in ${Math.round(delay / 1000)} s (jitter)`);
      waiting.set(
        e.profile,
        setTimeout(() => {
          waiting.delete(e.profile);
          run();
        }, delay),
      );
    } else run();
  };

  const persist = () => {
    const id = lastId;
    queue = queue.then(() => saveState(dir, { server: fleet, lastEventId: id }).catch(() => {}));
  };

  const backoff = new Backoff({ firstMs: 500, maxMs: 30_000, jitter: true });
  try {
    while (!signal.aborted) {
      const conn = new AbortController();
      const stopConn = () => conn.abort();
      signal.addEventListener("abort", stopConn, { once: true });
      let silence: NodeJS.Timeout | undefined;
      const since = Date.now();
      const alive = () => {
        clearTimeout(silence);
        silence = setTimeout(() => conn.abort(), o.silenceMs ?? 45_000);
      };
      try {
        const body = await client.machineEvents(lastId, conn.signal);
        log(`connected to ${client.server}${lastId ? `, resuming after event ${lastId}` : ""}`);
        alive();
        let caughtUp = false;
        const pending = new Map<string, ProfileChange>();
        for await (const item of readSse(body)) {
          alive();
          if (item.type !== "event") continue;
          if (item.hasId && /^[0-9]+$/.test(item.lastEventId)) lastId = Number(item.lastEventId);
          if (item.event === "profile") {
            const e = ProfileChange.parse(JSON.parse(item.data));
            if (caughtUp) {
              enqueue(e);
              persist();
            } else pending.set(e.profile, e);
          } else if (item.event === "channel") {
            const e = ChannelChange.parse(JSON.parse(item.data));
            if (e.evaluation !== null) {
              log(
                `channel ${e.channel}: evaluation ${e.evaluation} (${(e.commitSha ?? "").slice(0, 7)}, ${e.action})`,
              );
            }
            if (caughtUp) persist();
          } else if (item.event === "unsubscribed") {
            const e = Unsubscribed.parse(JSON.parse(item.data));
            log(
              `${e.name}: no longer followed${e.of === "profile" ? ` (${dir}/${e.name} left as it is)` : ""}`,
            );
            if (e.of === "profile") {
              // A switch still waiting for its jitter is for a profile nobody wants here any more.
              clearTimeout(waiting.get(e.name));
              waiting.delete(e.name);
              pending.delete(e.name);
              o.unsubscribed?.(e.name);
            }
          } else if (item.event === "ready") {
            caughtUp = true;
            o.caughtUp?.([...pending.keys()]);
            for (const e of pending.values()) enqueue(e);
            pending.clear();
            persist();
            log(`caught up (event ${lastId})`);
            if (o.once) {
              await queue;
              return failures ? 1 : 0;
            }
          }
        }
        if (!signal.aborted) log("the server closed the stream");
        // A stream that lasted was a good one: start the backoff over. One that ends at once must not loop fast.
        if (Date.now() - since > 10_000) backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof ApiError && [401, 403, 404].includes(err.status)) {
          log(`error: ${err.message}`);
          return 1;
        }
        const why = conn.signal.aborted ? "no word from the server for too long" : (err as Error).message;
        log(`disconnected: ${why}`);
      } finally {
        clearTimeout(silence);
        signal.removeEventListener("abort", stopConn);
        conn.abort();
      }
      if (signal.aborted) break;
      const wait = backoff.next();
      log(`reconnecting in ${(wait / 1000).toFixed(1)} s`);
      await sleep(wait, signal);
    }
    return 0;
  } finally {
    for (const t of waiting.values()) clearTimeout(t);
    await queue;
  }
}
