// A real `flox builder` process for end-to-end tests and benchmarks: its own chroot store, polling every 200 ms,
// its output kept for error messages, and a stop that never leaves it running.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type FloxProcess, spawnFlox } from "./flox-process.js";
import type { TestServer } from "./server.js";

export interface BuilderProcess extends FloxProcess {
  name: string;
}

/** A real `flox builder` with its own chroot store at `store`, polling every 200 ms. */
export function startBuilderProcess(
  srv: Pick<TestServer, "url">,
  opts: { name: string; token: string; store: string; system: string; args?: string[] },
): BuilderProcess {
  const proc = spawnFlox(
    [
      "builder",
      "--server",
      srv.url,
      "--token",
      opts.token,
      "--store",
      opts.store,
      "--systems",
      opts.system,
      "--name",
      opts.name,
      ...(opts.args ?? []),
    ],
    { FLOX_BUILDER_POLL_MS: "200" },
  );
  return { name: opts.name, ...proc };
}

/** The system the server evaluates for (what builders must offer). */
export async function serverSystem(dataDir: string): Promise<string> {
  return JSON.parse(await readFile(join(dataDir, "run", "hooks.json"), "utf8")).system;
}

/** A builder token and one real `flox builder` (`b1`, its chroot store in `dir`): what most end-to-end tests need. */
export async function startOneBuilder(
  srv: Pick<TestServer, "url" | "api" | "dataDir">,
  dir: string,
): Promise<BuilderProcess> {
  const t = await srv.api("POST", "/api/v1/tokens", { scope: "builder", name: "b" });
  if (t.status !== 201)
    throw new Error(`creating a builder token: HTTP ${t.status} ${JSON.stringify(t.body)}`);
  return startBuilderProcess(srv, {
    name: "b1",
    token: t.body.secret,
    store: join(dir, "store-b1"),
    system: await serverSystem(srv.dataDir),
  });
}
