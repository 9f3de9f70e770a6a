// The hook's calls to the server (`/api/v1/internal/relay/*`, with the hook secret): queue the build, follow its
// log, wait for its end.

import { describeErrorAnswer } from "../../lib/api/errors.js";
import { type BuildHookConfig, RelayBuildResponse, RelayBuildStateResponse } from "../../lib/api/relay.js";
import { retry } from "../../lib/retry.js";

/** The server refused (4xx): retrying will not help. */
export class FarmRefusedError extends Error {
  override name = "FarmRefusedError";
}

async function call(
  cfg: BuildHookConfig,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
): Promise<Response> {
  return retry(
    async () => {
      const res = await fetch(`${cfg.serverUrl}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${cfg.hookSecret}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(120_000),
      });
      if (res.status >= 400 && res.status < 500) {
        throw new FarmRefusedError(describeErrorAnswer(res.status, await res.text()));
      }
      if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}`);
      return res;
    },
    {
      attempts: 10,
      firstDelayMs: 250,
      maxDelayMs: 5000,
      shouldRetry: (err) => !(err instanceof FarmRefusedError),
    },
  );
}

export async function requestBuild(cfg: BuildHookConfig, drvPath: string, daemonPid: number) {
  const res = await call(cfg, "POST", "/internal/relay/builds", { drvPath, daemonPid });
  return RelayBuildResponse.parse(await res.json());
}

/** The build's state once it finished, or after `waitSeconds`. */
export async function buildState(cfg: BuildHookConfig, id: number, waitSeconds: number) {
  const res = await call(cfg, "GET", `/internal/relay/builds/${id}?wait=${waitSeconds}`);
  return RelayBuildStateResponse.parse(await res.json());
}

/** Log bytes from `offset` (empty: none new yet). */
export async function logFrom(cfg: BuildHookConfig, id: number, offset: number): Promise<Buffer> {
  const res = await call(cfg, "GET", `/internal/relay/builds/${id}/log?offset=${offset}`);
  return Buffer.from(await res.arrayBuffer());
}
