// The world most end-to-end CI tests start from: a real `flox server`, its orgs and one real `flox builder`, with a
// temp dir for work repos (testing/repos.ts pushes them). One stop() undoes it all, in the order the files did it.
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BuilderProcess, startOneBuilder } from "./builder.js";
import { removeTree } from "./remove-tree.js";
import { ensureCompiledHooks } from "./repos.js";
import { startTestServer, type TestServer, type TestServerOptions } from "./server.js";

export interface CiWorldOptions {
  /** The temp dir's name prefix, e.g. "flox-channels-". */
  prefix: string;
  /** Orgs to create (`public` for the ones anyone may read). */
  orgs?: { name: string; public?: boolean }[];
  /** Options of the server; `tmp` is the world's temp dir, for a data dir inside it. */
  server?: (tmp: string) => TestServerOptions;
}

export interface CiWorld {
  srv: TestServer;
  builder: BuilderProcess;
  /** The world's temp dir: the builder's store, work repos; removed by stop(). */
  tmp: string;
  /** Stops the builder, then the server, then removes tmp. */
  stop(): Promise<void>;
}

/** Fails (after undoing what it started) when an org cannot be made. */
export async function startCiWorld(opts: CiWorldOptions): Promise<CiWorld> {
  await ensureCompiledHooks();
  const tmp = await mkdtemp(join(tmpdir(), opts.prefix));
  let srv: TestServer | undefined;
  let builder: BuilderProcess | undefined;
  const stop = async () => {
    await builder?.stop();
    await srv?.stop();
    await removeTree(tmp);
  };
  try {
    srv = await startTestServer(opts.server?.(tmp));
    for (const org of opts.orgs ?? []) {
      const r = await srv.api(
        "POST",
        "/api/v1/orgs",
        org.public ? { name: org.name, public: true } : { name: org.name },
      );
      if (r.status !== 201)
        throw new Error(`creating org ${org.name}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    }
    builder = await startOneBuilder(srv, tmp);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    srv,
    builder,
    tmp,
    stop,
  };
}
