// The Storehouse beside nginx serving the very same narinfo and NAR bytes, in one run:
// narinfo requests/s and NAR MiB/s at 1 and 16 connections, measured with wrk on loopback. A bare node:http server
// of the same files (node-floor-server.ts) runs beside them: Node's own ceiling on this machine. The peers take
// turns within each round; each figure is the median of the rounds.
// Run after a build: `npx tsc -p tsconfig.json && node dist/bench/storehouse-vs-nginx.js [seconds] [rounds]`.
// Prints figures; asserts nothing. Needs wrk and nginx (npm run setup installs both).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startTestServer } from "../testing/server.js";
import { basic, prepareUpload } from "../testing/storehouse-uploads.js";
import { type BenchFigure, emitFigures } from "./figures-out.js";
import { freePort, loadAverages as load, median, wrk } from "./wrk.js";

const seconds = Number(process.argv[2] ?? 5);
const rounds = Number(process.argv[3] ?? 3);
const narMiB = 32;

/** The floor server in its own process, as the Storehouse and nginx are. */
async function startFloor(dir: string, port: number): Promise<ReturnType<typeof spawn>> {
  const script = join(dirname(fileURLToPath(import.meta.url)), "node-floor-server.js");
  const child = spawn(process.execPath, [script, dir, String(port)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`the node:http floor server exited (${code})`)));
    child.stdout?.once("data", () => resolve());
  });
  return child;
}

async function put(url: string, token: string, body: Buffer): Promise<void> {
  const res = await fetch(url, { method: "PUT", headers: { authorization: basic(token) }, body });
  if (!res.ok) throw new Error(`PUT ${url}: ${res.status} ${await res.text()}`);
}

async function bytesOf(url: string): Promise<Buffer> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

function cpusNote(): string {
  return `${availableParallelism()}-core machine`;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "flox-bench-cache-"));
  chmodSync(root, 0o755); // nginx's workers run as an unprivileged user and must reach the files
  const srv = await startTestServer();
  let nginx: ReturnType<typeof spawn> | undefined;
  let floor: ReturnType<typeof spawn> | undefined;
  try {
    const tok = await srv.api("POST", "/api/v1/tokens", { scope: "builder", name: "bench" });
    const token = tok.body.secret as string;
    const small = await prepareUpload("bench-small", { "bin/hello": { executable: "#!/bin/sh\necho hi\n" } });
    const big = await prepareUpload("bench-big", {
      data: randomBytes(narMiB * 1024 * 1024).toString("base64"),
    });
    for (const u of [small, big]) {
      await put(`${srv.url}/cache/${u.info.url}`, token, u.file);
      await put(`${srv.url}/cache/${u.hash}.narinfo`, token, Buffer.from(u.narinfoText));
    }

    // nginx gets the bytes our server answers with, under the same URLs.
    const www = join(root, "www");
    mkdirSync(join(www, "cache", "nar"), { recursive: true });
    for (const path of [
      "cache/nix-cache-info",
      `cache/${small.hash}.narinfo`,
      `cache/${big.hash}.narinfo`,
      `cache/${big.info.url}`,
    ]) {
      writeFileSync(join(www, path), await bytesOf(`${srv.url}/${path}`));
    }
    const port = await freePort();
    const conf = join(root, "nginx.conf");
    writeFileSync(
      conf,
      `daemon off; worker_processes 1; pid ${root}/nginx.pid; error_log ${root}/error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
  types { text/x-nix-narinfo narinfo; application/x-nix-nar nar; }
  client_body_temp_path ${root}/tmp; proxy_temp_path ${root}/tmp; fastcgi_temp_path ${root}/tmp;
  uwsgi_temp_path ${root}/tmp; scgi_temp_path ${root}/tmp;
  server { listen 127.0.0.1:${port}; root ${www}; } }
`,
    );
    mkdirSync(join(root, "tmp"));
    nginx = spawn("nginx", ["-c", conf, "-e", join(root, "error.log")], { stdio: "ignore" });
    for (let i = 0; i < 50; i++) {
      if ((await fetch(`http://127.0.0.1:${port}/cache/nix-cache-info`).catch(() => null))?.ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    const floorPort = await freePort();
    floor = await startFloor(www, floorPort);

    const peers = { flox: srv.url, nginx: `http://127.0.0.1:${port}`, node: `http://127.0.0.1:${floorPort}` };
    console.log(
      `Storehouse vs nginx vs bare node:http, same bytes, wrk ${seconds}s per cell, median of ${rounds} rounds (${cpusNote()}, loopback)`,
    );
    console.log(`load average at the start: ${load()}`);
    console.log("what                      conns   flox       nginx      node:http   flox/nginx  node/nginx");
    const figures: BenchFigure[] = [];
    const how = `wrk ${seconds} s each, median of ${rounds} rounds, loopback`;
    const cells = [
      ...[1, 16].map((conns) => ({ id: `narinfo-${conns}`, conns, path: `cache/${small.hash}.narinfo` })),
      ...[1, 16].map((conns) => ({ id: `nar-${conns}`, conns, path: `cache/${big.info.url}` })),
    ];
    for (const cell of cells) {
      const got: Record<keyof typeof peers, number[]> = { flox: [], nginx: [], node: [] };
      for (let r = 0; r < rounds; r++) {
        for (const peer of Object.keys(peers) as (keyof typeof peers)[]) {
          const f = await wrk(`${peers[peer]}/${cell.path}`, cell.conns, seconds);
          got[peer].push(cell.id.startsWith("nar-") ? f.mibPerSec : f.reqPerSec);
        }
      }
      const [flox, ngx, node] = [median(got.flox), median(got.nginx), median(got.node)];
      const nar = cell.id.startsWith("nar-");
      figures.push({
        id: cell.id,
        unit: nar ? "MiB/s" : "req/s",
        ours: flox,
        peer: ngx,
        peerLabel: `nginx, same bytes (bare node:http ${node.toFixed(0)})`,
        how,
      });
      const what = nar ? `NAR (${(narMiB * 1.33) | 0} MiB) MiB/s` : "narinfo requests/s";
      console.log(
        `${what.padEnd(26)}${String(cell.conns).padStart(5)}   ${[flox, ngx, node].map((x) => x.toFixed(0).padStart(8)).join("   ")}   ${(flox / ngx).toFixed(2).padStart(9)}   ${(node / ngx).toFixed(2).padStart(9)}`,
      );
    }
    console.log(`load average at the end: ${load()}`);
    emitFigures(figures);
  } finally {
    nginx?.kill("SIGTERM");
    floor?.kill("SIGTERM");
    await srv.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
