// Test harness: issue 15's fleet in one process tree. Several real `flox server` processes on one PostgreSQL
// database (a cluster of the fleet's own, so a test may stop and start it), one object store (a Ceph RGW bucket, or a
// `file:` dir), one repos dir and one signing key; builders that know every server (`--server A,B`). Each server has
// its own data dir (its logs, its hooks' run file), as separate machines would.
//
//   const fleet = await startFleet("faults", { store: "s3" });
//   const a = await fleet.start(), b = await fleet.start();
//   const builder = fleet.startBuilder("b1", token);   // --server A,B
//   await fleet.kill(a);                                 // SIGKILL, as a machine dies
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { type BuilderProcess, serverSystem, startBuilderProcess } from "./builder.js";
import { type Ceph, startCeph } from "./ceph.js";
import { startPostgres, type TestPostgres } from "./postgres.js";
import { removeTree } from "./remove-tree.js";
import { startTestServer, type TestServer } from "./server.js";

/** The line a server logs when it takes the fleet's background work (server/db/server-locks.ts). */
export const LEADER_LINE = "this server now runs the background work";

export interface FleetOptions {
  /** `s3`: a Ceph RGW bucket (started here, stopped with the fleet); `file`: a shared dir. */
  store: "s3" | "file";
}

export interface Fleet {
  tmp: string;
  pg: TestPostgres;
  /** The fleet's database URL. */
  databaseUrl: string;
  /** Set when the store is `s3`. */
  ceph?: Ceph;
  /** `--nar-store` of every server. */
  narStore: string;
  /** The arguments every server gets (database, repos dir, store, signing key). */
  args: string[];
  /** Every server started, dead ones included, in start order. */
  servers: TestServer[];
  /** Starts one more server of the fleet (a fresh data dir unless given one), `extraArgs` after the fleet's. */
  start(env?: Record<string, string>, dataDir?: string, extraArgs?: string[]): Promise<TestServer>;
  /** SIGKILL, and waits for the exit: the machine is gone, nothing of it runs on. */
  kill(s: TestServer): Promise<void>;
  alive(s: TestServer): boolean;
  /** What the server wrote to DATA_DIR/logs/server.log. */
  log(s: TestServer): string;
  leads(s: TestServer): boolean;
  /** The `--server` list a client of the fleet gets: the given servers' URLs, comma-separated. */
  urls(...servers: TestServer[]): string;
  /** A builder with `--server` naming every given server (default: every live one), its own store under tmp. */
  startBuilder(name: string, token: string, servers?: TestServer[]): Promise<BuilderProcess>;
  /** Builders, servers, the object store, PostgreSQL and tmp, in that order. */
  stop(): Promise<void>;
}

export async function startFleet(name: string, opts: FleetOptions): Promise<Fleet> {
  const tmp = await mkdtemp(join(tmpdir(), `flox-${name}-`));
  const pg = await startPostgres();
  const ceph = opts.store === "s3" ? await startCeph() : undefined;
  const narStore = ceph ? (await ceph.bucketUrl("fleet")).url : `file:${join(tmp, "store")}`;
  const keys = join(tmp, "keys");
  await mkdir(keys);
  await execa("nix-store", [
    "--generate-binary-cache-key",
    `flox-${name}-1`,
    join(keys, "secret-key"),
    join(keys, "public-key"),
  ]);
  const databaseUrl = pg.createDatabase(name.replace(/\W/g, "_"));
  const args = [
    "--database",
    databaseUrl,
    "--repos-dir",
    join(tmp, "repos"),
    "--nar-store",
    narStore,
    "--signing-key",
    join(keys, "secret-key"),
    "--no-nix-daemon",
  ];
  const servers: TestServer[] = [];
  const builders: BuilderProcess[] = [];
  const alive = (s: TestServer) => s.process.exitCode === null && s.process.signalCode === null;
  const log = (s: TestServer) => {
    try {
      return readFileSync(join(s.dataDir, "logs", "server.log"), "utf8");
    } catch {
      return "";
    }
  };
  const urls = (...list: TestServer[]) => list.map((s) => s.url).join(",");
  const fleet: Fleet = {
    tmp,
    pg,
    databaseUrl,
    ceph,
    narStore,
    args,
    servers,
    async start(env = {}, dataDir, extraArgs = []) {
      const s = await startTestServer({
        args: [...args, ...extraArgs],
        env: { ...ceph?.env, ...env },
        dataDir,
      });
      servers.push(s);
      return s;
    },
    kill(s) {
      return new Promise((resolve) => {
        if (!alive(s)) return resolve();
        s.process.once("exit", () => resolve());
        s.process.kill("SIGKILL");
      });
    },
    alive,
    log,
    leads: (s) => alive(s) && log(s).includes(LEADER_LINE),
    urls,
    async startBuilder(builderName, token, list = servers.filter(alive)) {
      const first = list[0];
      if (!first) throw new Error("startBuilder: no live server to name");
      const b = startBuilderProcess(
        { url: urls(...list) },
        {
          name: builderName,
          token,
          store: join(tmp, `store-${builderName}`),
          system: await serverSystem(first.dataDir),
        },
      );
      builders.push(b);
      return b;
    },
    async stop() {
      for (const b of builders) await b.stop().catch(() => undefined);
      for (const s of servers) await s.stop().catch(() => undefined);
      await ceph?.stop().catch(() => undefined);
      pg.destroy();
      await execa("chmod", ["-R", "u+w", tmp], { reject: false });
      await removeTree(tmp);
    },
  };
  return fleet;
}
