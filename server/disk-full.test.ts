// A server whose data dir fills up (a 64 MB tmpfs, filled with fallocate while it runs): uploads get 507, pushes
// are refused, the evaluation fails with "disk full", the server stays up, and all works again once space is freed.
// Needs root (mount); the test machine runs as root.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encodeNix32 } from "../lib/nix32.js";
import { commitAll, ensureCompiledHooks, push, workRepoFromFixture } from "../testing/repos.js";
import { startTestServer, type TestServer } from "../testing/server.js";
import { waitFor } from "../testing/wait-for.js";

let mnt: string;
let srv: TestServer | undefined;
const filler = () => join(mnt, "filler");

test.before(async () => {
  await ensureCompiledHooks();
  mnt = await mkdtemp(join(tmpdir(), "flox-disk-full-"));
  await execa("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt]);
});

test.after(async () => {
  await srv?.stop();
  await execa("umount", [mnt], { reject: false });
  await rm(mnt, { recursive: true, force: true });
});

/** Takes every free byte of the tmpfs. */
async function fillDisk(): Promise<void> {
  const { stdout } = await execa("df", ["-B1", "--output=avail", mnt]);
  const avail = Number(stdout.trim().split("\n").pop());
  if (avail > 0) await execa("fallocate", ["-l", String(avail), filler()]);
}

/**
 * PUT /cache/nar/<hash>.nar of `size` random bytes, named by their hash as Nix names a NAR file. With curl, as Nix
 * uses it: it reads an answer that comes before the whole body went out (fetch reports only "fetch failed").
 */
async function putNar(size: number): Promise<{ status: number; text: string }> {
  if (!srv) throw new Error("no server");
  const body = randomBytes(size);
  const name = `${encodeNix32(createHash("sha256").update(body).digest())}.nar`;
  const r = await execa(
    "curl",
    ["-sS", "-X", "PUT", "-H", `authorization: Bearer ${srv.adminToken}`, "--data-binary", "@-"].concat([
      "-w",
      "\n%{http_code}",
      `${srv.url}/cache/nar/${name}`,
    ]),
    { input: body, reject: false },
  );
  const lines = r.stdout.trimEnd().split("\n");
  const status = Number(lines.pop());
  return { status, text: `${lines.join("\n")}${r.stderr}` };
}

async function evaluations(): Promise<{ id: number; state: string; error: string | null }[]> {
  if (!srv) throw new Error("no server");
  const res = await srv.api("GET", "/api/v1/orgs/acme/jobsets/main/evaluations");
  if (res.status === 404) return []; // no push yet
  assert.is(res.status, 200, JSON.stringify(res.body));
  return res.body.evaluations;
}

const until = <T>(what: string, probe: () => Promise<T | undefined>) =>
  waitFor(what, probe, { timeoutMs: 120_000, explain: () => `server stderr:\n${srv?.stderr()}` });

test("a full data dir: 507 to uploads, pushes refused, the evaluation failed as disk full; all back once freed", async () => {
  // The delay keeps the evaluation waiting after it is claimed, so the disk can fill before Nix writes its .drvs.
  srv = await startTestServer({ dataDir: mnt, env: { FLOX_TEST_EVAL_DELAY_MS: "3000" } });
  assert.is((await srv.api("POST", "/api/v1/orgs", { name: "acme" })).status, 201);
  const work = await workRepoFromFixture("good");
  try {
    await commitAll(work, "first");
    const pushed = push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
    await until("the evaluation to start", async () =>
      (await evaluations()).some((e) => e.state === "running") ? true : undefined,
    );
    await fillDisk();
    const filledAt = Date.now();
    const first = await pushed;
    assert.is(first.exitCode, 0, first.stderr);

    const nar = await putNar(4 * 1024 * 1024);
    assert.is(nar.status, 507, nar.text);
    assert.match(nar.text, /disk is full/);
    assert.ok(nar.text.includes(mnt), nar.text);

    // README* is allowed at the top level, so only the full disk can refuse this push.
    await execa("dd", ["if=/dev/urandom", `of=${join(work, "README.big")}`, "bs=1M", "count=2"]);
    await commitAll(work, "second, on a full disk");
    const refused = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
    assert.is.not(refused.exitCode, 0, refused.stderr);
    assert.match(refused.stderr, /space|disk/i);

    // Still up, and said so in its stderr (the log on the full disk may have lost its line).
    assert.is(srv.process.exitCode, null);
    assert.is(srv.process.signalCode, null);
    assert.is((await srv.api("GET", "/api/v1/health")).status, 200);
    const said = srv
      .stderr()
      .split("\n")
      .filter((l) => l.includes(`disk full at ${mnt}`));
    // At most once a minute, however many requests and writes failed meanwhile.
    const minutes = Math.ceil((Date.now() - filledAt) / 60_000);
    assert.ok(said.length >= 1 && said.length <= minutes + 1, srv.stderr());
    assert.not.match(srv.stderr(), /^\s+at /m);

    await rm(filler());
    // The evaluation failed on the full disk; with no room even to record that, it is recorded once there is.
    const failed = await until("the evaluation to end", async () => {
      const e = (await evaluations())[0];
      return e && e.state !== "running" && e.state !== "queued" ? e : undefined;
    });
    assert.is(failed.state, "failed");
    assert.match(failed.error ?? "", /disk is full/);
    assert.ok(failed.error?.includes(mnt), failed.error ?? "");
    const again = await push(work, srv.gitUrl("acme", srv.adminToken), ["HEAD:refs/heads/main"]);
    assert.is(again.exitCode, 0, again.stderr);
    const stored = await putNar(4 * 1024 * 1024);
    assert.is(stored.status, 201, stored.text);
  } catch (err) {
    throw new Error(
      `${(err as Error).message}; server exit ${srv.process.exitCode}, stderr:\n${srv.stderr()}`,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test("a restart on a full data dir says so in one line, or starts", async () => {
  await srv?.stop();
  srv = undefined;
  await fillDisk();
  try {
    srv = await startTestServer({ dataDir: mnt });
    // Started: then it must answer.
    assert.is((await srv.api("GET", "/api/v1/health")).status, 200);
  } catch (err) {
    const message = (err as Error).message;
    assert.match(message, /exited with 1/);
    assert.match(message, /flox server: cannot start: .*disk is full \(no space left in /, message);
    assert.ok(message.includes(mnt), message);
    assert.not.match(message, /^\s+at /m);
  } finally {
    await rm(filler(), { force: true });
  }
});

test.run();
