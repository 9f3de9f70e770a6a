// Which base package set a local check or build uses: --base, else the one the configured server says it
// uses (GET /api/v1/base-set), else flox's built-in bootstrap set. A server on nixpkgs needs --base here:
// checking against the bootstrap set would refuse what the server accepts.
import { resolve } from "node:path";
import type { Command } from "commander";
import type { GateSettings } from "../../hooks/gate.js";
import { ApiClient } from "../../lib/api/client.js";
import { ApiError, ApiUnreachableError } from "../../lib/api/errors.js";
import { type BaseSetInfo, bootstrapDigest } from "../../lib/base-set-info.js";
import { ConfigError, resolveConnection } from "../../lib/cli-config.js";
import { globals } from "../context.js";
import { CliError, exitCodes } from "../output.js";
import type { Checkout } from "./checkout.js";
import { type LocalBaseOptions, localGateSettings } from "./gate-settings.js";

export interface BaseChoice {
  settings: GateSettings;
  /** Where the choice came from. */
  source: "flag" | "server" | "built-in";
  /** In words, for the line a command prints: "the server's base set (…)". */
  description: string;
  /** Something the user should know (the server could not be asked, or its set differs from ours). */
  note?: string;
  /** What the server said, when it was asked. */
  server?: { url: string; baseSet: BaseSetInfo };
}

/** What the configured server says its base set is; null without a server, or when it does not answer. */
export async function askServerBaseSet(cmd: Command): Promise<{ url: string; baseSet: BaseSetInfo } | null> {
  try {
    const g = globals(cmd);
    const { server, token } = await resolveConnection({ server: g.server, token: g.token });
    return { url: server, baseSet: await new ApiClient({ server, token, timeoutMs: 5_000 }).baseSet() };
  } catch {
    return null;
  }
}

export async function chooseBase(
  cmd: Command,
  checkout: Checkout,
  opts: LocalBaseOptions,
): Promise<BaseChoice> {
  if (opts.base) {
    const basePath = resolve(opts.base);
    const settings = await localGateSettings(checkout, { basePath, maxFileSize: opts.maxFileSize });
    return { settings, source: "flag", description: `the base set at ${basePath} (--base)` };
  }
  const builtIn = async (note?: string): Promise<BaseChoice> => ({
    settings: await localGateSettings(checkout, { basePath: null, maxFileSize: opts.maxFileSize }),
    source: "built-in",
    description: "flox's built-in bootstrap base set",
    ...(note ? { note } : {}),
  });
  let server: string;
  let token: string | undefined;
  try {
    const g = globals(cmd);
    ({ server, token } = await resolveConnection({ server: g.server, token: g.token }));
  } catch (err) {
    if (err instanceof ConfigError) return builtIn();
    throw err;
  }
  let info: BaseSetInfo;
  try {
    info = await new ApiClient({ server, token, timeoutMs: 5_000 }).baseSet();
  } catch (err) {
    if (err instanceof ApiUnreachableError)
      return builtIn(`${server} did not answer; checked with flox's built-in bootstrap base set`);
    if (err instanceof ApiError && err.status === 404) {
      return builtIn(
        `${server} does not say which base set it uses (an older flox); checked with the built-in bootstrap set`,
      );
    }
    throw err;
  }
  if (info.kind === "nixpkgs") {
    throw new CliError(
      `${server} evaluates packages against nixpkgs (${info.name}${info.version ? ` ${info.version}` : ""}): ` +
        "give --base PATH, a checkout of the same nixpkgs, to check and build as the server does",
      exitCodes.usage,
    );
  }
  const settings = await localGateSettings(checkout, {
    basePath: null,
    system: info.system,
    maxFileSize: opts.maxFileSize,
  });
  const same = (await bootstrapDigest(settings.busyboxDir)) === info.digest;
  return {
    settings,
    source: "server",
    description: `the server's base set (the bootstrap set${same ? ", the same as this flox's" : ""})`,
    ...(same
      ? {}
      : {
          note:
            `the server's bootstrap base set differs from this flox's (another flox version, or another busybox): ` +
            "the checks agree, but store paths built here may differ from the server's",
        }),
    server: { url: server, baseSet: info },
  };
}
