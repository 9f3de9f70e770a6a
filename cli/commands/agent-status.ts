// flox agent status, flox watch, flox download: the running agent seen (and asked) through its status socket
// CACHE_DIR/agent.sock. `flox download` asks the agent rather than writing the cache itself: the agent owns the
// cache's index, its pins and its eviction, and a second writer would race its GC.
import { MultiBar, Presets, SingleBar } from "cli-progress";
import type { Command } from "commander";
import { formatBytes as bytes } from "../../lib/bytes.js";
import { globals } from "../context.js";
import { CliError } from "../output.js";

interface SocketFlags {
  cacheDir?: string;
  socket?: string;
}

/** The socket from --socket, --cache-dir (CACHE_DIR/agent.sock) or FLOX_AGENT_SOCKET. */
function socketOf(cmd: Command): string {
  const o = cmd.optsWithGlobals<SocketFlags>();
  const socket = o.socket ?? (o.cacheDir ? `${o.cacheDir.replace(/\/+$/, "")}/agent.sock` : undefined);
  const chosen = socket ?? process.env.FLOX_AGENT_SOCKET;
  if (!chosen) {
    cmd.error(
      "error: which agent? pass --cache-dir DIR (its CACHE_DIR), --socket PATH or set FLOX_AGENT_SOCKET",
      {
        exitCode: 2,
      },
    );
  }
  return chosen as string;
}

async function client() {
  return import("../../fs-agent/status-client.js");
}

async function status(socket: string) {
  const { fetchStatus, AgentUnreachableError } = await client();
  try {
    return await fetchStatus(socket);
  } catch (err) {
    if (err instanceof AgentUnreachableError) throw new CliError(err.message);
    throw err;
  }
}

const short = (path: string) => path.replace(/^\/nix\/store\/[0-9a-z]{32}-/, "");

type Status = Awaited<ReturnType<typeof status>>;

function cacheLine(s: Status): string {
  const c = s.cache;
  return `cache ${bytes(c.usedBytes)} of ${bytes(c.quotaBytes)}, ${c.paths} paths (${c.pinnedPaths} pinned), ${c.fetches} fetched, ${c.evictions} evicted; server ${s.online ? "online" : "away"}`;
}

function fetchLine(f: Status["cache"]["inFlight"][number]): string {
  const pct = f.bytesTotal ? Math.floor((100 * f.bytesDone) / f.bytesTotal) : 0;
  return `fetching ${short(f.path)}: ${bytes(f.bytesDone)} of ${bytes(f.bytesTotal)} (${pct}%) at ${bytes(f.rate)}/s`;
}

export async function agentStatus(cmd: Command): Promise<void> {
  const s = await status(socketOf(cmd));
  if (globals(cmd).json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return;
  }
  const lines = [`${s.server}/cache mounted at ${s.mount}`, cacheLine(s)];
  for (const p of s.profiles)
    lines.push(`profile ${p.profile}: generation ${p.generation} (${p.closurePaths} paths pinned)`);
  for (const f of s.cache.inFlight) lines.push(fetchLine(f));
  if (s.cache.inFlight.length === 0) lines.push("no fetch in flight");
  process.stdout.write(`${lines.join("\n")}\n`);
}

/** Live progress bars of the fetches in flight (one line per refresh when stdout is no terminal). */
export async function watch(cmd: Command, opts: { interval: string; count?: string }): Promise<void> {
  const socket = socketOf(cmd);
  const interval = Math.max(100, Number(opts.interval) || 500);
  const count = opts.count === undefined ? Number.POSITIVE_INFINITY : Number(opts.count);
  if (!Number.isInteger(count) && count !== Number.POSITIVE_INFINITY) {
    cmd.error(`error: --count ${opts.count} is not a number`, { exitCode: 2 });
  }
  const tty = process.stdout.isTTY === true;
  const multi = tty
    ? new MultiBar(
        {
          format: " {bar} {percentage}% | {name} | {done} of {totalSize} at {rate}/s",
          hideCursor: true,
          stream: process.stdout,
          clearOnComplete: false,
          stopOnComplete: false,
        },
        Presets.shades_classic,
      )
    : undefined;
  const header = multi?.create(1, 0, {}, { format: " {line}" });
  const bars = new Map<string, ReturnType<MultiBar["create"]>>();
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    for (let i = 0; i < count && !stop; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, interval));
      const s = await status(socket);
      if (!multi || !header) {
        const fetches = s.cache.inFlight.map(fetchLine);
        process.stdout.write(
          `${[cacheLine(s), ...(fetches.length ? fetches : ["no fetch in flight"])].join("\n")}\n`,
        );
        continue;
      }
      header.update(0, { line: cacheLine(s) });
      const live = new Set<string>();
      for (const f of s.cache.inFlight) {
        live.add(f.path);
        const payload = {
          name: short(f.path),
          done: bytes(f.bytesDone),
          totalSize: bytes(f.bytesTotal),
          rate: bytes(f.rate),
        };
        let bar = bars.get(f.path);
        if (!bar) {
          bar = multi.create(f.bytesTotal || 1, f.bytesDone, payload);
          bars.set(f.path, bar);
        }
        bar.setTotal(f.bytesTotal || 1);
        bar.update(f.bytesDone, payload);
      }
      for (const [path, bar] of bars) {
        if (live.has(path)) continue;
        multi.remove(bar);
        bars.delete(path);
      }
    }
  } finally {
    multi?.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** Fetches the whole closure of a profile's live generation into the agent's cache now, pinned. */
export async function download(cmd: Command, profile: string): Promise<void> {
  if (!/^[a-z0-9][a-z0-9-]*\/[a-z0-9][a-z0-9-]*$/.test(profile)) {
    cmd.error(`error: ${profile} is not a profile (ORG/NAME)`, { exitCode: 2 });
  }
  const socket = socketOf(cmd);
  const { requestDownload, AgentUnreachableError } = await client();
  const tty = process.stderr.isTTY === true;
  const bar = tty
    ? new SingleBar(
        {
          format: " {bar} {percentage}% | {done} of {totalSize} | {pathsDone}/{paths} paths",
          hideCursor: true,
        },
        Presets.shades_classic,
      )
    : undefined;
  let started = false;
  try {
    const last = await requestDownload(socket, profile, (p) => {
      const payload = {
        done: bytes(p.bytesDone),
        totalSize: bytes(p.bytesTotal),
        pathsDone: p.pathsDone,
        paths: p.paths,
      };
      if (!bar) return;
      if (!started) bar.start(p.bytesTotal || 1, p.bytesDone, payload);
      started = true;
      bar.update(p.bytesDone, payload);
    });
    bar?.stop();
    const summary = `${profile}: generation ${last.generation} downloaded, ${last.pathsDone} of ${last.paths} paths (${bytes(last.bytesTotal)}) in the cache, pinned`;
    if (globals(cmd).json) process.stdout.write(`${JSON.stringify(last, null, 2)}\n`);
    else process.stdout.write(`${summary}\n`);
  } catch (err) {
    bar?.stop();
    if (err instanceof AgentUnreachableError) throw new CliError(err.message);
    throw new CliError(`flox download ${profile}: ${(err as Error).message}`);
  }
}
