// flox's Nix build hook (`build-hook =` of the shared daemon, run by it as root, one process per build): accepts
// every build — an untrusted client may raise max-jobs, so a declined build would run on the server — puts it on
// the farm's queue over the HTTP API, streams the builder's log to fd 4 (Nix keeps it and shows it to the
// client), imports the outputs from the Storehouse, and exits 0 (built), 100 (failed) or 101 (timed out).
import { readFile, write } from "node:fs";
import { promisify } from "node:util";
import { BuildHookConfig } from "../../lib/api/relay.js";
import { buildState, FarmRefusedError, logFrom, requestBuild } from "./farm.js";
import { importOutputs } from "./import-outputs.js";
import { WireEndError, WireReader } from "./wire.js";

const writeFd = promisify(write);
/** Where Nix reads the build's log from its hook. */
const LOG_FD = 4;
const MACHINE = "flox-farm";

/** Nix reads the hook's replies and messages from its stderr (stdout goes there too). */
const say = (line: string) => process.stderr.write(`${line}\n`);

async function readConfig(file: string | undefined): Promise<BuildHookConfig> {
  if (!file)
    throw new Error("usage: build-hook CONFIG.json (the server writes it: DATA_DIR/nix-daemon/hook.json)");
  const text = await promisify(readFile)(file, "utf8");
  return BuildHookConfig.parse(JSON.parse(text));
}

/** Copies the build's log to fd 4 as it grows, until stopped and drained. */
function followLog(cfg: BuildHookConfig, buildId: number) {
  let offset = 0;
  let stopped = false;
  const pump = async () => {
    for (;;) {
      const chunk = await logFrom(cfg, buildId, offset).catch(() => Buffer.alloc(0));
      if (chunk.length > 0) {
        await writeFd(LOG_FD, chunk).catch(() => undefined);
        offset += chunk.length;
        continue;
      }
      if (stopped) return;
      await new Promise((r) => setTimeout(r, 400));
    }
  };
  const done = pump();
  return async () => {
    stopped = true;
    await done;
  };
}

/** The exit code Nix expects for a build that ended in `state`. */
function exitCodeOf(state: string): number {
  if (state === "succeeded" || state === "cached") return 0;
  if (state === "timed-out") return 101;
  if (state === "failed" || state === "dependency-failed") return 100;
  return 1;
}

async function buildOnFarm(cfg: BuildHookConfig, drvPath: string, wanted: string[]): Promise<number> {
  const daemonPid = process.ppid;
  const { build, outputs } = await requestBuild(cfg, drvPath, daemonPid);
  const stopLog = followLog(cfg, build.id);
  let state = build.state;
  let answer = { state, builder: null as string | null, message: null as string | null };
  while (state === "queued" || state === "running") {
    answer = await buildState(cfg, build.id, 30);
    state = answer.state;
  }
  await stopLog();
  const code = exitCodeOf(state);
  if (code !== 0) {
    say(`flox: build ${build.id} of ${drvPath} ended ${state}${answer.message ? `: ${answer.message}` : ""}`);
    return code;
  }
  const paths = (wanted.length > 0 ? wanted : Object.keys(outputs))
    .map((o) => outputs[o])
    .filter((p): p is string => p !== undefined && p !== "");
  await importOutputs(cfg, paths);
  return 0;
}

async function main(): Promise<number> {
  const cfg = await readConfig(process.argv[2]);
  const accepted = process.argv.includes("--accepted");
  // The daemon process that runs this hook serves one client; when it goes, so does this build's reason to run.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(1);
  }, 1000).unref();
  const wire = new WireReader(process.stdin);
  // Every setting of the daemon first, `(1, name, value)*` then 0; the hook needs none of them.
  while ((await wire.int()) !== 0) {
    await wire.string();
    await wire.string();
  }
  let command: string;
  try {
    command = await wire.string();
  } catch (err) {
    if (err instanceof WireEndError) return 0;
    throw err;
  }
  if (command !== "try") throw new Error(`the daemon sent "${command}" where "try" was expected`);
  await wire.int(); // amWilling: whether a local slot is free; the farm builds everything
  await wire.string(); // the derivation's system: the queue matches it to builders
  const drvPath = await wire.string();
  await wire.strings(); // required system features: the queue reads them from the .drv
  // The server's wrapper (DATA_DIR/nix-daemon/build-hook) answers before Node starts (--accepted).
  if (!accepted) {
    say("# accept");
    say(MACHINE);
  }
  await wire.strings(); // input paths: the builders substitute them from the Storehouse
  const wanted = await wire.strings();
  return buildOnFarm(cfg, drvPath, wanted);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const why =
      err instanceof FarmRefusedError ? err.message : err instanceof Error ? err.message : String(err);
    say(`flox build hook: ${why}`);
    process.exit(1);
  },
);
