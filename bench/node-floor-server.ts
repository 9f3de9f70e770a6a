// The floor for the Storehouse's serving benchmark (storehouse-vs-nginx.ts): the least a Node server can do to
// answer the same files — small ones from memory, big ones piped from disk in 1 MiB chunks — with no routing,
// auth or headers beyond the needed. What flox trails nginx by beyond what this trails it by is flox's own cost.
// `node dist/bench/node-floor-server.js DIR PORT`; prints "ready" once listening.
import { createReadStream, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { pipeline } from "node:stream";

const [dir = ".", port = "0"] = process.argv.slice(2);
/** Small files as strings: Node then sends them in one write with the header block, as the Storehouse does. */
const small = new Map<string, { text: string; length: number }>();
const big = new Map<string, { path: string; size: number }>();
const walk = (d: string, prefix: string): void => {
  for (const name of readdirSync(d)) {
    const path = join(d, name);
    const st = statSync(path);
    if (st.isDirectory()) walk(path, `${prefix}${name}/`);
    else if (st.size < 65536) {
      const text = readFileSync(path, "utf8");
      small.set(`${prefix}${name}`, { text, length: Buffer.byteLength(text) });
    } else big.set(`${prefix}${name}`, { path, size: st.size });
  }
};
walk(dir, "/");

createServer((req, res) => {
  const url = req.url ?? "/";
  const mem = small.get(url);
  if (mem) {
    res.writeHead(200, { "content-type": "text/plain", "content-length": mem.length }).end(mem.text);
    return;
  }
  const file = big.get(url);
  if (!file) {
    res.writeHead(404, { "content-length": 0 }).end();
    return;
  }
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": file.size });
  pipeline(createReadStream(file.path, { highWaterMark: 1024 * 1024 }), res, () => {});
}).listen(Number(port), "127.0.0.1", () => console.log("ready"));
