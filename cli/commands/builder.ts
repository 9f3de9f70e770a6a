// flox builder: the long-running build agent (the runner is cli/builder/runner.ts).

import type { Command } from "commander";
import { parseByteSize } from "../../lib/byte-size.js";
import { BuilderTokenRefusedError } from "../builder/builder-api.js";
import { runBuilder } from "../builder/runner.js";
import { foreignStoreReason } from "../builder/store-guard.js";
import { globals } from "../context.js";
import { chooseNix } from "../nix-choice.js";
import { CliError, exitCodes } from "../output.js";

interface BuilderFlags {
  store: string;
  systems: string;
  features?: string;
  maxJobs: string;
  name?: string;
  allowHostStore?: boolean;
  storeMax?: string;
  nixBin?: string;
}

function list(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export async function builder(cmd: Command): Promise<void> {
  const flags = cmd.opts<BuilderFlags>();
  const g = globals(cmd);
  const server = g.server ?? process.env.FLOX_SERVER;
  const token = g.token ?? process.env.FLOX_TOKEN;
  const usage = (m: string): never => cmd.error(`error: ${m}`, { exitCode: 2, code: "flox.usage" });
  if (!server) usage("which server? pass --server URL or set FLOX_SERVER");
  if (!token)
    usage(
      "pass a builder token with --token T or FLOX_TOKEN (an admin makes one: flox token create --builder)",
    );
  const maxJobs = Number(flags.maxJobs);
  if (!Number.isInteger(maxJobs) || maxJobs < 1)
    usage(`--max-jobs ${flags.maxJobs} is not a positive whole number`);
  const storeMax = flags.storeMax === undefined ? undefined : parseByteSize(flags.storeMax);
  if (flags.storeMax !== undefined && storeMax === undefined)
    usage(`--store-max ${flags.storeMax} is not a size: give bytes or a number with K, M, G or T (e.g. 20G)`);
  const systems = list(flags.systems);
  if (systems.length === 0) usage("--systems needs at least one system, e.g. x86_64-linux");
  const foreign = flags.allowHostStore ? undefined : foreignStoreReason(flags.store);
  if (foreign)
    usage(
      `--store ${flags.store}: ${foreign}. A builder needs a chroot store of its own, e.g. --store /var/lib/flox-builder ` +
        "(created if missing); pass --allow-host-store only if you mean to build into that store",
    );
  await chooseNix("builder", flags.nixBin);
  const abort = new AbortController();
  const stop = () => {
    process.once("SIGTERM", () => process.exit(130));
    process.once("SIGINT", () => process.exit(130));
    process.once("SIGHUP", () => process.exit(130));
    process.stderr.write("flox builder: stopping; running builds go back to the queue\n");
    abort.abort();
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  process.once("SIGHUP", stop);
  try {
    await runBuilder({
      server: server as string,
      token: token as string,
      store: flags.store,
      systems,
      features: list(flags.features),
      maxJobs,
      ...(flags.name ? { name: flags.name } : {}),
      ...(storeMax !== undefined ? { storeMaxBytes: storeMax } : {}),
      ...(process.env.FLOX_BUILDER_POLL_MS ? { pollMs: Number(process.env.FLOX_BUILDER_POLL_MS) } : {}),
      signal: abort.signal,
    });
  } catch (err) {
    // Retrying a refused token would loop forever; a supervisor sees the exit status and the reason.
    if (err instanceof BuilderTokenRefusedError) throw new CliError(err.message, exitCodes.failed);
    throw err;
  }
}
