// Test harness: a real one-node Ceph cluster with the RADOS Gateway (an S3 server) on loopback, in a temp dir.
// One mon, one OSD keeping objects in RAM (memstore), one radosgw; the recipe is /work/shared/SCALE.md's. Start
// to first PUT takes about 5 s, so a test file starts one and shares it. Every daemon runs in the foreground
// under `setpriv --pdeathsig KILL`: if the test process dies, however it dies, the kernel kills its daemons.
//
//   const ceph = await startCeph();
//   try { const url = await ceph.bucketUrl("nars"); … } finally { await ceph.stop(); }
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { execa } from "execa";

export interface Ceph {
  /** `http://127.0.0.1:PORT`, the S3 endpoint. */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for a `flox server` that uses this store. */
  env: Record<string, string>;
  /** An S3 client for checks behind the server's back. */
  client: S3Client;
  /** Makes a fresh bucket and answers `s3://BUCKET/PREFIX?endpoint=…&region=us-east-1` for `--nar-store`. */
  bucketUrl(prefix?: string): Promise<{ bucket: string; url: string }>;
  /** Kills the RADOS Gateway (SIGKILL: the S3 server is gone, the cluster behind it stays). */
  stopGateway(): Promise<void>;
  /** Starts it again on the same port; resolves once it answers. */
  startGateway(): Promise<void>;
  /** Stops radosgw, then the OSD, then the mon (radosgw hangs for minutes if the OSD goes first); removes the dir. */
  stop(): Promise<void>;
}

const REGION = "us-east-1";

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, "127.0.0.1", ok));
  const address = srv.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

interface Daemon {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
}

/** All daemons of every cluster this process started: killed at exit even when a test forgot stop(). */
const running = new Set<Daemon>();
process.once("exit", () => {
  for (const d of running) d.child.kill("SIGKILL");
});

function startDaemon(name: string, dir: string, cmd: string, args: string[]): Daemon {
  const child = spawn("setpriv", ["--pdeathsig", "KILL", "--", cmd, ...args], {
    cwd: dir,
    stdio: ["ignore", "ignore", "ignore"],
  });
  const d: Daemon = {
    name,
    child,
    exited: new Promise<void>((ok) => child.once("exit", () => ok())),
  };
  running.add(d);
  void d.exited.then(() => running.delete(d));
  return d;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
async function stopDaemon(d: Daemon, graceMs: number): Promise<void> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return;
  d.child.kill("SIGTERM");
  const timer = setTimeout(() => d.child.kill("SIGKILL"), graceMs);
  await d.exited;
  clearTimeout(timer);
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`Ceph: ${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The programs the cluster needs; `npm run setup` installs them (radosgw, ceph-mon, ceph-osd, util-linux). */
const PROGRAMS = ["ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph", "setpriv"];

async function requirePrograms(): Promise<void> {
  const missing: string[] = [];
  for (const p of PROGRAMS) {
    if ((await execa("sh", ["-c", `command -v ${p}`], { reject: false })).exitCode !== 0) missing.push(p);
  }
  if (missing.length > 0)
    throw new Error(
      `Ceph test cluster: ${missing.join(", ")} not installed; run npm run setup (it installs Ceph)`,
    );
}

export async function startCeph(): Promise<Ceph> {
  await requirePrograms();
  const dir = await mkdtemp(join(tmpdir(), "flox-ceph-"));
  const daemons: Daemon[] = [];
  let gateway: Daemon | undefined;
  const fsid = randomUUID();
  const monPort = await freePort();
  const rgwPort = await freePort();
  const conf = join(dir, "ceph.conf");
  const accessKey = `FLOXTEST${randomBytes(6).toString("hex").toUpperCase()}`;
  const secretKey = randomBytes(24).toString("base64url");
  const endpoint = `http://127.0.0.1:${rgwPort}`;
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const client = new S3Client({
    endpoint,
    region: REGION,
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
  });
  const ceph = (args: string[]) =>
    execa(args[0] ?? "", [...args.slice(1), "-c", conf], { cwd: dir, timeout: 60_000 });

  const stop = async () => {
    client.destroy();
    if (gateway) await stopDaemon(gateway, 5000);
    // The OSD before the mon; each gets a moment to go cleanly (memstore has nothing to flush).
    for (const d of [...daemons].reverse()) await stopDaemon(d, 5000);
    await rm(dir, { recursive: true, force: true });
  };

  const startGateway = async () => {
    gateway = startDaemon("radosgw", dir, "radosgw", ["-f", "-n", "client.rgw.a", "-c", conf]);
    await until("radosgw answering", 60_000, async () => (await fetch(endpoint)).status < 500);
  };

  try {
    for (const sub of ["run", "log", "mon/ceph-a", "osd/ceph-0", "rgw"])
      await mkdir(join(dir, sub), { recursive: true });
    // tcp_nodelay on the gateway: without it every small GET waits out a delayed ACK (~50 ms instead of ~5).
    await writeFile(
      conf,
      `[global]
fsid = ${fsid}
mon host = [v2:127.0.0.1:${monPort}]
auth cluster required = none
auth service required = none
auth client required = none
ms bind msgr1 = false
ms mon client mode = crc
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd objectstore = memstore
memstore device bytes = 2147483648
paxos propose interval = 0.05
paxos min wait = 0.01
run dir = ${dir}/run
log file = ${dir}/log/$name.log
admin socket = ${dir}/run/$name.asok
mon cluster log file = ${dir}/log/cluster.log
mon data = ${dir}/mon/$cluster-$id
osd data = ${dir}/osd/$cluster-$id
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1
rgw data = ${dir}/rgw
`,
    );
    await execa(
      "monmaptool",
      ["--create", "--fsid", fsid, "--addv", "a", `[v2:127.0.0.1:${monPort}]`, join(dir, "monmap")],
      {
        cwd: dir,
      },
    );
    await ceph(["ceph-mon", "--mkfs", "-i", "a", "--monmap", join(dir, "monmap")]);
    daemons.push(startDaemon("ceph-mon", dir, "ceph-mon", ["-f", "-i", "a", "-c", conf]));
    const osdUuid = randomUUID();
    await ceph(["ceph", "--connect-timeout", "30", "osd", "new", osdUuid]);
    await ceph(["ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osdUuid]);
    daemons.push(startDaemon("ceph-osd", dir, "ceph-osd", ["-f", "-i", "0", "-c", conf]));
    await startGateway();
    await ceph([
      "radosgw-admin",
      "user",
      "create",
      "--uid",
      "flox-test",
      "--display-name",
      "flox test",
      "--access-key",
      accessKey,
      "--secret",
      secretKey,
    ]);
    // The first bucket, PUT and multipart upload each create pools (seconds apiece): done here, not in a test.
    await client.send(new CreateBucketCommand({ Bucket: "warm-up" }));
    await client.send(new PutObjectCommand({ Bucket: "warm-up", Key: "small", Body: "hello" }));
    await new Upload({
      client,
      params: { Bucket: "warm-up", Key: "big", Body: Buffer.alloc(6 * 1024 * 1024, 1) },
      partSize: 5 * 1024 * 1024,
    }).done();
  } catch (err) {
    const logs = await readFile(join(dir, "log", "client.rgw.a.log"), "utf8").catch(() => "");
    await stop();
    throw new Error(
      `${(err as Error).message}\nradosgw log (tail):\n${logs.split("\n").slice(-20).join("\n")}`,
      {
        cause: err,
      },
    );
  }

  let buckets = 0;
  return {
    endpoint,
    accessKey,
    secretKey,
    env: { AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey },
    client,
    async bucketUrl(prefix = "") {
      const bucket = `flox-${process.pid}-${++buckets}`;
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      const path = prefix ? `/${prefix}` : "";
      return { bucket, url: `s3://${bucket}${path}?endpoint=${endpoint}&region=${REGION}` };
    },
    async stopGateway() {
      if (gateway) {
        gateway.child.kill("SIGKILL");
        await gateway.exited;
        gateway = undefined;
      }
    },
    startGateway,
    stop,
  };
}
