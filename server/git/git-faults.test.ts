// Hostile and broken git traffic against a real `flox server`: hand-made pushes, clients (and hooks) that vanish
// mid-request, and a `git receive-pack` killed mid-push. Each must leave the server up and still serving git.
import { randomBytes } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CreateTokenResponse } from "../../lib/api/tokens.js";
import { runGit } from "../../testing/repos.js";
import { startTestServer, type TestServer } from "../../testing/server.js";
import { waitFor as waitForShared } from "../../testing/wait-for.js";

const faults = suite<{ server: TestServer; work: string; member: string; head: string }>("git faults");

function pkt(s: string): Buffer {
  return Buffer.from(`${(Buffer.byteLength(s) + 4).toString(16).padStart(4, "0")}${s}`);
}

/** The command part of a receive-pack request: one ref update, `report-status` (no side-band), a flush. */
function refUpdate(oldSha: string, newSha: string, ref = "refs/heads/main"): Buffer {
  return Buffer.concat([
    pkt(`${oldSha} ${newSha} ${ref}\0report-status agent=flox-fault-test\n`),
    Buffer.from("0000"),
  ]);
}

/** A pack header (`PACK`, version 2, an object count) and `size` random bytes where the objects should be. */
function garbagePack(size: number): Buffer {
  const header = Buffer.alloc(12);
  header.write("PACK", 0, "latin1");
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(1000, 8);
  return Buffer.concat([header, randomBytes(size)]);
}

const basic = (token: string) => `Basic ${Buffer.from(`x:${token}`).toString("base64")}`;

interface Sent {
  status: number | null;
  body: string;
  /** Why sending or reading stopped early, if it did (the server may close the socket on a request it refused). */
  error: string | null;
}

/**
 * POSTs `parts` one after another in a chunked body, waiting for drain as a real client does; `between(i)` runs
 * before part i > 0 is sent. `abortAfter` destroys the socket once that many parts went out, as a client that
 * vanishes does.
 */
function post(
  port: number,
  path: string,
  authorization: string,
  contentType: string,
  parts: Buffer[],
  opts: { between?: (i: number) => Promise<void>; abortAfter?: number; abortOnAnswer?: boolean } = {},
): Promise<Sent> {
  return new Promise((resolve) => {
    const sent: Sent = { status: null, body: "", error: null };
    let settled = false;
    let sending = true;
    let answered = false;
    const finish = () => {
      if (!settled && !sending && (answered || sent.error !== null)) {
        settled = true;
        resolve(sent);
      }
    };
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path,
        headers: {
          authorization,
          "content-type": contentType,
        },
      },
      (res) => {
        sent.status = res.statusCode ?? null;
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => {
          chunks.push(c);
          if (opts.abortOnAnswer && !req.destroyed) {
            sent.body = c.toString("latin1");
            sent.error = "aborted by the test";
            req.destroy();
            finish();
          }
        });
        res.on("end", () => {
          sent.body = Buffer.concat(chunks).toString("latin1");
          answered = true;
          finish();
        });
        res.on("error", (err) => {
          sent.body = Buffer.concat(chunks).toString("latin1");
          sent.error ??= err.message;
          finish();
        });
      },
    );
    req.on("error", (err) => {
      sent.error ??= err.message;
      sending = false;
      finish();
    });
    req.setTimeout(60_000, () => req.destroy(new Error("no answer within 60 s")));
    void (async () => {
      for (const [i, part] of parts.entries()) {
        if (req.destroyed) break;
        if (i > 0) await opts.between?.(i);
        if (opts.abortAfter === i) {
          req.destroy();
          sent.error = "aborted by the test";
          break;
        }
        // 64 KiB at a time, so a refusal mid-body is seen between writes.
        for (let at = 0; at < part.length && !req.destroyed; at += 65536) {
          if (!req.write(part.subarray(at, at + 65536))) {
            await new Promise<void>((ok) => {
              const done = () => {
                req.off("drain", done).off("close", done);
                ok();
              };
              req.on("drain", done).on("close", done);
            });
          }
        }
      }
      if (!req.destroyed) req.end();
      sending = false;
      finish();
    })();
  });
}

const receivePack = (
  ctx: { server: TestServer; member: string },
  parts: Buffer[],
  opts: Parameters<typeof post>[5] = {},
) =>
  post(
    ctx.server.port,
    "/acme/nixexprs.git/git-receive-pack",
    basic(ctx.member),
    "application/x-git-receive-pack-request",
    parts,
    opts,
  );

/** The server's child processes whose command line mentions `what` (from /proc, as `ps --ppid` would). */
function childrenOf(pid: number, what: string): number[] {
  return processes((p) => p.ppid === pid && p.cmdline.includes(what));
}

/** Processes working in `dir`: git enters the repo it serves, and its index-pack or pack-objects inherit that. */
function runningIn(dir: string): number[] {
  return processes((p) => p.cwd === dir);
}

function processes(match: (p: { ppid: number; cmdline: string; cwd: string }) => boolean): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "latin1");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "latin1").replaceAll("\0", " ");
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (match({ ppid, cmdline, cwd })) found.push(Number(entry));
    } catch {
      // The process ended while we looked, or is not ours to look at.
    }
  }
  return found;
}

/** Waits until no process works in the repo any more. */
async function assertNoGitLeft(ctx: { server: TestServer }): Promise<void> {
  const repo = realpathSync(join(ctx.server.dataDir, "repos", "acme", "nixexprs.git"));
  await waitFor("git in the repo to end", () => (runningIn(repo).length === 0 ? true : undefined));
}

/** The shared poll, fast enough to catch a receive-pack mid-push. */
const waitFor = <T>(what: string, probe: () => T | undefined) =>
  waitForShared(what, probe, { timeoutMs: 30_000, intervalMs: 50 });

async function refsOf(ctx: { server: TestServer; work: string }): Promise<string> {
  const repo = join(ctx.server.dataDir, "repos", "acme", "nixexprs.git");
  return (await runGit(["--git-dir", repo, "for-each-ref"], ctx.work)).stdout;
}

/** Up, answering the API, and serving git: a fresh clone sees `main` at the expected commit. */
async function assertServing(ctx: { server: TestServer; work: string; member: string; head: string }) {
  assert.is(ctx.server.process.exitCode, null, `the server exited; stderr:\n${ctx.server.stderr()}`);
  assert.is((await ctx.server.api("GET", "/api/v1/health")).status, 200);
  const dir = join(ctx.work, `clone-${randomBytes(4).toString("hex")}`);
  const r = await runGit(["clone", ctx.server.gitUrl("acme", ctx.member), dir], ctx.work);
  assert.is(r.exitCode, 0, r.stderr);
  assert.is((await runGit(["rev-parse", "HEAD"], dir)).stdout.trim(), ctx.head);
}

/** A commit on top of HEAD in `dir`, pushed for real; returns the new HEAD. */
async function pushCommit(dir: string, file: string): Promise<string> {
  writeFileSync(join(dir, file), `${file}\n`);
  assert.is((await runGit(["add", file], dir)).exitCode, 0);
  assert.is((await runGit(["commit", "-m", file], dir)).exitCode, 0);
  const r = await runGit(["push", "origin", "HEAD:refs/heads/main"], dir);
  assert.is(r.exitCode, 0, r.stderr);
  return (await runGit(["rev-parse", "HEAD"], dir)).stdout.trim();
}

faults.before(async (ctx) => {
  ctx.server = await startTestServer();
  ctx.work = mkdtempSync(join(tmpdir(), "flox-git-faults-"));
  assert.is((await ctx.server.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  const res = await ctx.server.api("POST", "/api/v1/tokens", { scope: "org", org: "acme", role: "member" });
  assert.is(res.status, 201, JSON.stringify(res.body));
  ctx.member = CreateTokenResponse.parse(res.body).secret;
  // A first commit with 6 MB of incompressible data, so that a clone of it takes more than one read.
  const dir = join(ctx.work, "seed");
  mkdirSync(dir);
  assert.is((await runGit(["init", "-b", "main"], dir)).exitCode, 0);
  assert.is(
    (await runGit(["remote", "add", "origin", ctx.server.gitUrl("acme", ctx.member)], dir)).exitCode,
    0,
  );
  // The layout allows any README* at the top level.
  writeFileSync(join(dir, "README.noise"), randomBytes(6 * 1024 * 1024));
  assert.is((await runGit(["add", "README.noise"], dir)).exitCode, 0);
  ctx.head = await pushCommit(dir, "README.md");
});

faults.after(async (ctx) => {
  await ctx.server?.stop();
  if (ctx.work) rmSync(ctx.work, { recursive: true, force: true });
});

faults("a hand-made push of a PACK header and 30 MB of random bytes gets an unpack error", async (ctx) => {
  const refsBefore = await refsOf(ctx);
  const sent = await receivePack(ctx, [
    refUpdate(ctx.head, randomBytes(20).toString("hex")),
    garbagePack(30 * 1024 * 1024),
  ]);
  // The client sent all of it and read the whole answer: the server kept reading after git stopped.
  assert.is(sent.error, null);
  if (sent.status === 200) {
    // receive-pack's own report: the pack was refused, and so was the ref.
    assert.match(sent.body, /unpack (?!ok)/, sent.body);
    assert.match(sent.body, /ng refs\/heads\/main/, sent.body);
  } else {
    assert.ok(sent.status !== null && sent.status >= 400 && sent.status < 500, JSON.stringify(sent));
  }
  assert.is(await refsOf(ctx), refsBefore);
  await assertNoGitLeft(ctx);
  await assertServing(ctx);
  const dir = join(ctx.work, "after-garbage");
  assert.is((await runGit(["clone", ctx.server.gitUrl("acme", ctx.member), dir], ctx.work)).exitCode, 0);
  ctx.head = await pushCommit(dir, "README.after-garbage");
  await assertServing(ctx);
});

faults("a push node-git-server cannot read is refused with 400, its body read to the end", async (ctx) => {
  const refsBefore = await refsOf(ctx);
  const sent = await receivePack(ctx, [
    refUpdate(ctx.head, randomBytes(20).toString("hex"), "refs/notes/commits"),
    garbagePack(4 * 1024 * 1024),
  ]);
  assert.is(sent.error, null);
  assert.is(sent.status, 400, JSON.stringify(sent));
  assert.match(sent.body, /only refs\/heads\/\* and refs\/tags\/\* can be pushed/);
  assert.is(await refsOf(ctx), refsBefore);
  await assertServing(ctx);
});

faults("a client that vanishes mid-pack leaves no git behind and the repo as it was", async (ctx) => {
  const refsBefore = await refsOf(ctx);
  const sent = await receivePack(
    ctx,
    [refUpdate(ctx.head, randomBytes(20).toString("hex")), garbagePack(0), randomBytes(4 * 1024 * 1024)],
    {
      // Gone while git is still reading the pack.
      abortAfter: 2,
      between: async (i) => {
        if (i === 2)
          await waitFor("git receive-pack", () => childrenOf(ctx.server.process.pid ?? 0, "receive-pack")[0]);
      },
    },
  );
  assert.is(sent.error, "aborted by the test");
  await assertNoGitLeft(ctx);
  assert.is(await refsOf(ctx), refsBefore);
  await assertServing(ctx);
});

faults(
  "git receive-pack killed mid-push: the client is told, refs stay, the server serves on",
  async (ctx) => {
    // A real pack of a commit with 8 MB of new incompressible data, sent in pieces so git is mid-pack when killed.
    const dir = join(ctx.work, "killed");
    assert.is((await runGit(["clone", ctx.server.gitUrl("acme", ctx.member), dir], ctx.work)).exitCode, 0);
    writeFileSync(join(dir, "README.more"), randomBytes(8 * 1024 * 1024));
    assert.is((await runGit(["add", "README.more"], dir)).exitCode, 0);
    assert.is((await runGit(["commit", "-m", "more"], dir)).exitCode, 0);
    const newHead = (await runGit(["rev-parse", "HEAD"], dir)).stdout.trim();
    const pack = (
      await execa("git", ["pack-objects", "--stdout", "--revs"], {
        cwd: dir,
        input: `${newHead}\n^${ctx.head}\n`,
        encoding: "buffer",
      })
    ).stdout;
    const refsBefore = await refsOf(ctx);
    const pieces = [refUpdate(ctx.head, newHead)];
    for (let at = 0; at < pack.length; at += 1024 * 1024)
      pieces.push(Buffer.from(pack.subarray(at, at + 1024 * 1024)));
    let killed = 0;
    const sent = await receivePack(ctx, pieces, {
      between: async (i) => {
        if (i !== 3) return;
        const pid = await waitFor(
          "git receive-pack",
          () => childrenOf(ctx.server.process.pid ?? 0, "receive-pack")[0],
        );
        process.kill(pid, "SIGKILL");
        killed = pid;
      },
    });
    assert.ok(killed > 0);
    assert.is(sent.error, null);
    assert.is(sent.status, 500, JSON.stringify(sent));
    assert.match(
      sent.body,
      /receive-pack on the server ended before answering \(it was killed \(SIGKILL\)\)/,
    );
    assert.is(await refsOf(ctx), refsBefore);
    // Its index-pack too, which outlived it reading the rest of the body.
    await assertNoGitLeft(ctx);
    await assertServing(ctx);
    // And the push, sent again by git itself, goes through: the repo lock was let go.
    const r = await runGit(["push", "origin", "HEAD:refs/heads/main"], dir);
    assert.is(r.exitCode, 0, r.stderr);
    ctx.head = newHead;
    await assertServing(ctx);
  },
);

faults("a client that vanishes mid-clone or mid-request leaves no git behind", async (ctx) => {
  const uploadPack = (parts: Buffer[], opts: { abortAfter?: number; abortOnAnswer?: boolean }) =>
    post(
      ctx.server.port,
      "/acme/nixexprs.git/git-upload-pack",
      basic(ctx.member),
      "application/x-git-upload-pack-request",
      parts,
      opts,
    );
  const wants = Buffer.concat([pkt(`want ${ctx.head}\n`), Buffer.from("0000"), pkt("done\n")]);
  // Gone after the first bytes of a pack of more than 14 MB.
  const midClone = await uploadPack([wants], { abortOnAnswer: true });
  assert.is(midClone.error, "aborted by the test");
  assert.is(midClone.status, 200);
  // Gone halfway through its request.
  const midRequest = await uploadPack([wants.subarray(0, 20), wants.subarray(20)], { abortAfter: 1 });
  assert.is(midRequest.error, "aborted by the test");
  await assertNoGitLeft(ctx);
  await assertServing(ctx);
});

faults("a hook that vanishes mid-request to the internal routes leaves the server up", async (ctx) => {
  const { hookSecret } = JSON.parse(readFileSync(join(ctx.server.dataDir, "run", "hooks.json"), "utf8")) as {
    hookSecret: string;
  };
  for (const path of ["/api/v1/internal/pushes", "/api/v1/internal/receives/waiting"]) {
    const json = Buffer.from(
      JSON.stringify({ org: "acme", pid: 1, ref: "refs/heads/main", pad: "x".repeat(1e6) }),
    );
    const sent = await post(
      ctx.server.port,
      path,
      `Bearer ${hookSecret}`,
      "application/json",
      [json.subarray(0, 500_000), json.subarray(500_000)],
      { abortAfter: 1 },
    );
    assert.is(sent.error, "aborted by the test");
  }
  await assertServing(ctx);
});

faults.run();
