// NARs from an S3 bucket (a one-node Ceph RADOS Gateway, testing/ceph.ts) through `flox server --nar-store s3://…`,
// streamed or answered with a redirect to a presigned URL (--nar-redirect), beside the same server on a local dir
// and beside the bucket read directly (the peer: what a client reaching the store gets). One run, same bytes.
// Also the upload of a big NAR to each store, with the server's peak RSS (it must never hold a NAR whole).
// Run after a build: `node dist/bench/nar-from-s3.js [seconds]`. Prints figures; asserts nothing.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { startCeph } from "../testing/ceph.js";
import { startTestServer, type TestServer } from "../testing/server.js";
import { basic, prepareUpload, type Upload } from "../testing/storehouse-uploads.js";

const seconds = Number(process.argv[2] ?? 5);
const bigMiB = 32;
const uploadMiB = 128;

async function put(srv: TestServer, token: string, u: Upload): Promise<number> {
  const t0 = performance.now();
  for (const [path, body] of [
    [u.info.url, u.file],
    [`${u.hash}.narinfo`, Buffer.from(u.narinfoText)],
  ] as const) {
    const res = await fetch(`${srv.url}/cache/${path}`, {
      method: "PUT",
      headers: { authorization: basic(token) },
      body,
    });
    if (!res.ok) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
  }
  return performance.now() - t0;
}

/** Peak resident memory of a process so far, MiB (VmHWM). */
function peakRssMiB(pid: number | undefined): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? Number.NaN) / 1024;
}

/** `connections` clients GETting `url` (following redirects) for `seconds`: MiB/s and requests/s. */
async function load(url: () => Promise<string>, connections: number): Promise<{ mibs: number; rps: number }> {
  const end = performance.now() + seconds * 1000;
  let bytes = 0;
  let requests = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const res = await fetch(await url());
        if (!res.ok || !res.body) throw new Error(`GET: ${res.status}`);
        for await (const chunk of res.body) bytes += chunk.length;
        requests++;
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  return { mibs: bytes / 1048576 / s, rps: requests / s };
}

async function main(): Promise<void> {
  const ceph = await startCeph();
  const servers: TestServer[] = [];
  try {
    const { bucket, url: storeUrl } = await ceph.bucketUrl("bench");
    const local = await startTestServer();
    servers.push(local);
    const streamed = await startTestServer({ args: ["--nar-store", storeUrl], env: ceph.env });
    servers.push(streamed);
    const redirected = await startTestServer({
      args: ["--nar-store", storeUrl, "--nar-redirect"],
      env: ceph.env,
    });
    servers.push(redirected);
    const small = await prepareUpload("bench-small", { "bin/hello": { executable: "#!/bin/sh\necho hi\n" } });
    const big = await prepareUpload("bench-big", {
      data: randomBytes((bigMiB * 1024 * 1024 * 3) / 4).toString("base64"),
    });
    const huge = await prepareUpload("bench-upload", {
      data: randomBytes((uploadMiB * 1024 * 1024 * 3) / 4).toString("base64"),
    });
    console.log(
      `NARs from S3 (Ceph RGW 16.2, memstore, loopback) through flox server, vs a local dir; ${seconds}s per cell, 2 cores shared with the client and Ceph`,
    );
    console.log(
      `upload of a ${uploadMiB} MiB NAR (PUT + narinfo, verified):   seconds   server peak RSS before → after (MiB)`,
    );
    for (const [name, srv] of [
      ["local dir", local],
      ["s3", streamed],
    ] as const) {
      const tok = await srv.api("POST", "/api/v1/tokens", { scope: "builder", name: "bench" });
      const token = tok.body.secret as string;
      await put(srv, token, small);
      await put(srv, token, big);
      const before = peakRssMiB(srv.process.pid);
      const ms = await put(srv, token, huge);
      const after = peakRssMiB(srv.process.pid);
      console.log(
        `  ${name.padEnd(10)}                                          ${(ms / 1000).toFixed(2).padStart(6)}    ${before.toFixed(0)} → ${after.toFixed(0)}`,
      );
    }
    const tok = await redirected.api("POST", "/api/v1/tokens", { scope: "builder", name: "bench" });
    await put(redirected, tok.body.secret as string, small);
    await put(redirected, tok.body.secret as string, big);

    const direct = (u: Upload) => () =>
      getSignedUrl(ceph.client, new GetObjectCommand({ Bucket: bucket, Key: `bench/${u.info.url}` }), {
        expiresIn: 600,
      });
    const via = (srv: TestServer, u: Upload) => async () => `${srv.url}/cache/${u.info.url}`;
    console.log(
      "what                         conns   local dir     s3 streamed   s3 redirect   bucket direct (peer)   streamed/local   redirect/streamed",
    );
    for (const [label, u, unit] of [
      [`NAR ${bigMiB} MiB, MiB/s`, big, "mibs"],
      ["NAR 1 KiB, requests/s", small, "rps"],
    ] as const) {
      for (const conns of [1, 4]) {
        const a = (await load(via(local, u), conns))[unit];
        const b = (await load(via(streamed, u), conns))[unit];
        const c = (await load(via(redirected, u), conns))[unit];
        const d = (await load(direct(u), conns))[unit];
        console.log(
          `${label.padEnd(28)} ${String(conns).padStart(5)}   ${a.toFixed(0).padStart(9)}     ${b.toFixed(0).padStart(9)}     ${c.toFixed(0).padStart(9)}     ${d.toFixed(0).padStart(9)}              ${(b / a).toFixed(2).padStart(5)}            ${(c / b).toFixed(2).padStart(5)}`,
        );
      }
    }
  } finally {
    for (const s of servers) await s.stop();
    await ceph.stop();
  }
}

await main();
