// send-file-range.ts on a real socket: exact bytes across chunks, concurrent responses sharing the buffer pool, and
// a file shorter than promised failing loudly instead of sending a short body as if whole.
import { randomBytes } from "node:crypto";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { sendFileRange } from "./send-file-range.js";

const dir = mkdtempSync(join(tmpdir(), "flox-send-range-"));
const bytes = randomBytes(3 * 1024 * 1024 + 777);
const file = join(dir, "data");
writeFileSync(file, bytes);
let server: Server;
let url: string;
const failures: string[] = [];

test.before(async () => {
  server = createServer((req, res) => {
    const [start, end] = (req.url ?? "").slice(1).split("-").map(Number) as [number, number];
    const fd = openSync(file, "r");
    res.writeHead(200, { "content-length": end - start + 1 });
    sendFileRange(fd, res, start, end)
      .catch((err: Error) => {
        failures.push(err.message);
        res.destroy();
      })
      .finally(() => closeSync(fd));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
test.after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

test("the bytes asked for, in order, also with eight responses sharing the buffers at once", async () => {
  const spans: [number, number][] = [
    [0, bytes.length - 1],
    [1, 1],
    [1024 * 1024 - 1, 2 * 1024 * 1024],
    [bytes.length - 5, bytes.length - 1],
  ];
  const all = await Promise.all(
    [...spans, ...spans].map(async ([a, b]) => {
      const res = await fetch(`${url}/${a}-${b}`);
      return { a, b, got: Buffer.from(await res.arrayBuffer()) };
    }),
  );
  for (const { a, b, got } of all) assert.ok(got.equals(bytes.subarray(a, b + 1)), `bytes ${a}-${b}`);
  assert.equal(failures, []);
});

test("a file that ends before the promised range fails, and the client sees a cut body, not a short one", async () => {
  const err = await fetch(`${url}/${bytes.length - 10}-${bytes.length + 100}`)
    .then((res) => res.arrayBuffer())
    .then(
      () => undefined,
      (e: Error) => e,
    );
  assert.ok(err, "the body was cut off");
  assert.equal(failures, [
    `the file ended at byte ${bytes.length}, before byte ${bytes.length + 100} was sent`,
  ]);
});

test.run();
