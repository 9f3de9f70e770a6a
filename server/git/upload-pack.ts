// Serves fetches and clones (git-upload-pack over smart HTTP, protocol v0 and v2), as `git http-backend` does.
//
// node-git-server spawns upload-pack without passing the client's `Git-Protocol` header on, so it only ever
// speaks protocol v0, and v0 cannot tell a client the branch an empty repo's HEAD names: a fresh clone would
// start on the client's default (often `master`) instead of `main`, and the first push would make the wrong
// branch. Pushes still go through node-git-server (receive-pack has no v2).
import { spawn } from "node:child_process";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createGunzip } from "node:zlib";
import type { Logger } from "pino";

/** The `Git-Protocol` header becomes GIT_PROTOCOL only when it looks like one (what http-backend allows). */
function gitProtocol(req: IncomingMessage): string | undefined {
  const header = req.headers["git-protocol"];
  return typeof header === "string" && /^[A-Za-z0-9=:.,-]{1,100}$/.test(header) ? header : undefined;
}

function noCache(res: ServerResponse): void {
  res.setHeader("expires", "Fri, 01 Jan 1980 00:00:00 GMT");
  res.setHeader("pragma", "no-cache");
  res.setHeader("cache-control", "no-cache, max-age=0, must-revalidate");
}

function pktLine(s: string): string {
  return `${(s.length + 4).toString(16).padStart(4, "0")}${s}`;
}

function run(
  repo: string,
  advertise: boolean,
  req: IncomingMessage,
  res: ServerResponse,
  logger: Logger,
  input?: NodeJS.ReadableStream,
): void {
  const protocol = gitProtocol(req);
  const args = ["upload-pack", "--stateless-rpc", ...(advertise ? ["--advertise-refs"] : []), repo];
  const child = spawn("git", args, {
    env: { ...process.env, ...(protocol ? { GIT_PROTOCOL: protocol } : {}) },
    stdio: [input ? "pipe" : "ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (c: string) => {
    if (stderr.length < 4000) stderr += c;
  });
  child.on("error", (err) => {
    logger.error({ err, repo }, "could not start git upload-pack");
    if (!res.headersSent) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end("the server could not run git; see its log\n");
    } else res.destroy();
  });
  child.on("close", (code) => {
    if (code !== 0) logger.warn({ repo, code, stderr }, "git upload-pack failed");
  });
  child.stdout?.on("error", (err) =>
    logger.warn({ err: err.message, repo }, "git upload-pack output failed"),
  );
  // Writing to a response that already failed: the pipe below would rethrow it otherwise.
  res.on("error", (err) => logger.warn({ err: err.message, repo }, "git upload-pack response failed"));
  // A client that goes away must not leave git running.
  res.once("close", () => {
    if (child.exitCode === null) child.kill();
  });
  if (input && child.stdin) {
    input.on("error", (err) => {
      logger.warn({ err: err.message }, "fetch request body failed");
      child.kill();
      if (!res.headersSent) {
        res.writeHead(400, { "content-type": "text/plain" });
        res.end("the request body could not be decoded\n");
      }
    });
    child.stdin.on("error", () => {}); // git exits early on a bad request; its exit code tells the story.
    input.pipe(child.stdin);
  }
  child.stdout?.pipe(res);
}

/** GET info/refs?service=git-upload-pack */
export function advertiseUploadPack(
  repo: string,
  req: IncomingMessage,
  res: ServerResponse,
  logger: Logger,
): void {
  res.setHeader("content-type", "application/x-git-upload-pack-advertisement");
  noCache(res);
  // Protocol v2 answers start with "version 2"; only v0 has the service header (as in git's http-backend).
  if (!gitProtocol(req)?.includes("version=2")) res.write(`${pktLine("# service=git-upload-pack\n")}0000`);
  run(repo, true, req, res, logger);
}

/** POST git-upload-pack */
export function serveUploadPack(
  repo: string,
  req: IncomingMessage,
  res: ServerResponse,
  logger: Logger,
): void {
  res.setHeader("content-type", "application/x-git-upload-pack-result");
  noCache(res);
  const encoding = req.headers["content-encoding"];
  const input = encoding === "gzip" || encoding === "x-gzip" ? req.pipe(createGunzip()) : req;
  run(repo, false, req, res, logger, input);
}
