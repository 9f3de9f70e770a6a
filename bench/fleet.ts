// Issue 15's fleet figures, in one run on one PostgreSQL and one object store (a `file:` dir, so the store is not
// what is measured; bench/nar-from-s3.ts measures S3):
// 1. narinfo requests/s and NAR MiB/s at 1 and 16 connections from two servers behind nginx (round robin,
//    keepalive), beside one server behind the same nginx, one server alone, and nginx serving the same files.
// 2. Builds per minute: 24 independent `sleep 1` packages on 4 builders spread over 2 servers (each builder names
//    both, its own first), beside the same 4 builders on 1 server; the build part, first claim to last finish.
// On a 2-core machine two servers share the cores one server had: expect no gain in raw serving, only in
// resilience; the builds row is about whether a fleet schedules as well as one server.
// Run after a build: `npx tsc -p tsconfig.json && node dist/bench/fleet.js [seconds] [rounds]`. Asserts nothing.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import type { BuilderProcess } from "../testing/builder.js";
import { type Fleet, startFleet } from "../testing/fleet-of-servers.js";
import { queryPostgres } from "../testing/postgres.js";
import type { TestServer } from "../testing/server.js";
import { basic, prepareUpload } from "../testing/storehouse-uploads.js";
import { waitFor } from "../testing/wait-for.js";
import { freePort, loadAverages as load, median, wrk } from "./wrk.js";

const seconds = Number(process.argv[2] ?? 3);
const rounds = Number(process.argv[3] ?? 3);
const PACKAGES = 24;

async function put(url: string, token: string, body: Buffer | string): Promise<void> {
  const res = await fetch(url, { method: "PUT", headers: { authorization: basic(token) }, body });
  if (!res.ok) throw new Error(`PUT ${url}: ${res.status} ${await res.text()}`);
}

/** nginx with three front doors: both servers, server A alone (the same proxy hop), and the files themselves. */
async function startNginx(root: string, a: TestServer, b: TestServer, www: string) {
  const ports = { two: await freePort(), one: await freePort(), files: await freePort() };
  const proxy = `proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host;`;
  const conf = join(root, "nginx.conf");
  writeFileSync(
    conf,
    `daemon off; worker_processes auto; pid ${root}/nginx.pid; error_log ${root}/error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
  types { text/x-nix-narinfo narinfo; application/x-nix-nar nar; }
  client_body_temp_path ${root}/tmp; proxy_temp_path ${root}/tmp; fastcgi_temp_path ${root}/tmp;
  uwsgi_temp_path ${root}/tmp; scgi_temp_path ${root}/tmp;
  upstream two { server 127.0.0.1:${a.port}; server 127.0.0.1:${b.port}; keepalive 64; }
  upstream one { server 127.0.0.1:${a.port}; keepalive 64; }
  server { listen 127.0.0.1:${ports.two}; location / { proxy_pass http://two; ${proxy} } }
  server { listen 127.0.0.1:${ports.one}; location / { proxy_pass http://one; ${proxy} } }
  server { listen 127.0.0.1:${ports.files}; root ${www}; } }
`,
  );
  mkdirSync(join(root, "tmp"));
  const child = spawn("nginx", ["-c", conf, "-e", join(root, "error.log")], { stdio: "ignore" });
  await waitFor("nginx to answer", async () =>
    Boolean((await fetch(`http://127.0.0.1:${ports.files}/cache/nix-cache-info`).catch(() => null))?.ok),
  );
  return { child, ports };
}

async function serving(fleet: Fleet, a: TestServer, b: TestServer, token: string): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "flox-bench-fleet-www-"));
  chmodSync(root, 0o755); // nginx's workers run unprivileged
  let nginx: ReturnType<typeof spawn> | undefined;
  try {
    const small = await prepareUpload("fleet-small", { "bin/hello": { executable: "#!/bin/sh\necho hi\n" } });
    const big = await prepareUpload("fleet-big", { data: randomBytes(24 * 1024 * 1024).toString("base64") });
    for (const u of [small, big]) {
      await put(`${a.url}/cache/${u.info.url}`, token, u.file);
      await put(`${a.url}/cache/${u.hash}.narinfo`, token, u.narinfoText);
    }
    const paths = {
      narinfo: `cache/${small.hash}.narinfo`,
      nar: `cache/${big.info.url}`,
    };
    const www = join(root, "www");
    mkdirSync(join(www, "cache", "nar"), { recursive: true });
    for (const p of ["cache/nix-cache-info", paths.narinfo, paths.nar]) {
      const r = await fetch(`${b.url}/${p}`);
      if (!r.ok) throw new Error(`GET ${p} from B: ${r.status}`);
      writeFileSync(join(www, p), Buffer.from(await r.arrayBuffer()));
    }
    const started = await startNginx(root, a, b, www);
    nginx = started.child;
    const doors = {
      "2 servers, nginx": `http://127.0.0.1:${started.ports.two}`,
      "1 server, nginx": `http://127.0.0.1:${started.ports.one}`,
      "1 server": a.url,
      "nginx, files": `http://127.0.0.1:${started.ports.files}`,
    };
    console.log(
      `\n1. serving: wrk ${seconds} s per cell, median of ${rounds} rounds, doors in turn (load ${load()})`,
    );
    console.log(
      `${"what".padEnd(22)}conns${Object.keys(doors)
        .map((d) => d.padStart(18))
        .join("")}   2 servers / 1 server (both behind nginx)`,
    );
    for (const [what, path, unit] of [
      ["narinfo req/s", paths.narinfo, "req"],
      ["NAR MiB/s", paths.nar, "mib"],
    ] as const) {
      for (const conns of [1, 16]) {
        const got = new Map<string, number[]>(Object.keys(doors).map((d) => [d, []]));
        for (let r = 0; r < rounds; r++)
          for (const [door, url] of Object.entries(doors)) {
            const f = await wrk(`${url}/${path}`, conns, seconds);
            got.get(door)?.push(unit === "req" ? f.reqPerSec : f.mibPerSec);
          }
        const med = [...got.values()].map(median);
        console.log(
          `${what.padEnd(22)}${String(conns).padStart(5)}${med.map((x) => x.toFixed(0).padStart(18)).join("")}   ${((med[0] ?? 0) / (med[1] ?? 1)).toFixed(2)}×`,
        );
      }
    }
    console.log(`load at the end: ${load()}; database: ${fleet.databaseUrl.replace(/\/\/[^@]*@/, "//")}`);
  } finally {
    nginx?.kill("SIGTERM");
    rmSync(root, { recursive: true, force: true });
  }
}

function packages(salt: string): Record<string, string> {
  const files: Record<string, string> = { "README.md": `${PACKAGES} independent packages\n` };
  for (let i = 1; i <= PACKAGES; i++) {
    const name = `s${String(i).padStart(2, "0")}`;
    files[`pkgs/${name}/default.nix`] =
      `{ runCommand }:\n\nrunCommand "${name}" { } ''\n  sleep 1\n  echo "${name} ${salt}" > $out\n''\n`;
  }
  return files;
}

async function git(cwd: string, ...args: string[]): Promise<void> {
  await execa("git", args, {
    cwd,
    env: {
      GIT_AUTHOR_NAME: "b",
      GIT_AUTHOR_EMAIL: "b@b",
      GIT_COMMITTER_NAME: "b",
      GIT_COMMITTER_EMAIL: "b@b",
    },
  });
}

interface BuildsFigure {
  total: number;
  buildPart: number;
  perMinute: number;
}

/** 4 builders over `servers`, each naming its own server first; 24 sleeps pushed to the first server. */
async function buildsOn(
  fleet: Fleet,
  servers: TestServer[],
  token: string,
  org: string,
): Promise<BuildsFigure> {
  const root = mkdtempSync(join(tmpdir(), `flox-bench-fleet-${org}-`));
  const builders: BuilderProcess[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      const own = servers[i % servers.length] as TestServer;
      builders.push(
        await fleet.startBuilder(`${org}-b${i}`, token, [own, ...servers.filter((s) => s !== own)]),
      );
    }
    const first = servers[0] as TestServer;
    const created = await first.api("POST", "/api/v1/orgs", { name: org });
    if (created.status !== 201) throw new Error(`creating org ${org}: ${JSON.stringify(created.body)}`);
    const work = join(root, "work");
    mkdirSync(work);
    await git(work, "init", "-q", "-b", "main");
    for (const [path, text] of Object.entries(packages(randomBytes(6).toString("hex")))) {
      mkdirSync(join(work, path, ".."), { recursive: true });
      writeFileSync(join(work, path), text);
    }
    await git(work, "add", "-A");
    await git(work, "commit", "-qm", "sleeps");
    const start = Date.now();
    await git(work, "push", "-q", first.gitUrl(org, first.adminToken), "main");
    interface Row {
      state: string;
      started_at: string | null;
      finished_at: string | null;
    }
    const rows = () =>
      queryPostgres<Row>(
        fleet.databaseUrl,
        `select b.state, b.started_at, b.finished_at from builds b join eval_jobs j on j.build_id = b.id
         join evaluations e on e.id = j.evaluation_id join jobsets s on s.id = e.jobset_id
         join orgs o on o.id = s.org_id where o.name = ?`,
        [org],
      );
    await waitFor(
      `the ${PACKAGES} builds of ${org}`,
      () => {
        const r = rows();
        if (r.some((x) => x.state === "failed")) throw new Error(`a build of ${org} failed`);
        return r.length === PACKAGES && r.every((x) => x.state === "succeeded");
      },
      {
        timeoutMs: 300_000,
        intervalMs: 100,
        explain: () => builders.map((b) => b.log().slice(-1500)).join("\n"),
      },
    );
    const total = Date.now() - start;
    const r = rows();
    const firstClaim = Math.min(...r.map((x) => Date.parse(x.started_at ?? "")));
    const lastFinish = Math.max(...r.map((x) => Date.parse(x.finished_at ?? "")));
    const buildPart = lastFinish - firstClaim;
    return { total, buildPart, perMinute: (PACKAGES * 60_000) / buildPart };
  } finally {
    for (const b of builders) await b.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(
    `bench/fleet: ${availableParallelism()} cores, load ${load()} at the start; one PostgreSQL, one file: store`,
  );
  const fleet = await startFleet("bench-fleet", { store: "file" });
  try {
    const a = await fleet.start();
    const b = await fleet.start();
    const tok = await a.api("POST", "/api/v1/tokens", { scope: "builder", name: "bench" });
    const token = tok.body.secret as string;
    await serving(fleet, a, b, token);

    console.log(
      `\n2. builds: ${PACKAGES} × sleep 1 on 4 builders, one run each, alternating (load ${load()})`,
    );
    const results: Record<string, BuildsFigure[]> = { "1 server": [], "2 servers": [] };
    for (let r = 0; r < Math.max(1, rounds - 1); r++) {
      results["1 server"]?.push(await buildsOn(fleet, [a], token, `one${r}`));
      results["2 servers"]?.push(await buildsOn(fleet, [a, b], token, `two${r}`));
    }
    console.log("servers      push → all built   first claim → last finish   builds/min (build part)");
    for (const [what, figs] of Object.entries(results))
      console.log(
        `${what.padEnd(12)} ${`${median(figs.map((f) => f.total))} ms`.padStart(16)}   ${`${median(figs.map((f) => f.buildPart))} ms`.padStart(25)}   ${median(
          figs.map((f) => f.perMinute),
        )
          .toFixed(1)
          .padStart(10)}`,
      );
    console.log(`load at the end: ${load()}`);
  } finally {
    await fleet.stop();
  }
}

await main();
