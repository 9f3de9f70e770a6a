import { chmod, lstat, mkdtemp, readFile, readlink, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { BusyboxMissingError, ensureBusyboxDir, hostBusybox } from "./busybox-dir.js";

let dir: string;

test.before.each(async () => {
  dir = await mkdtemp(join(tmpdir(), "flox-busybox-test-"));
});

test.after.each(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("creates bin/busybox (a 0555 copy) and bin/sh -> busybox, and sh runs", async () => {
  const bb = join(dir, "bb");
  assert.is(await ensureBusyboxDir(bb), bb);
  const st = await stat(join(bb, "bin", "busybox"));
  assert.is(st.mode & 0o777, 0o555);
  assert.ok((await readFile(join(bb, "bin", "busybox"))).equals(await readFile(hostBusybox)));
  assert.is(await readlink(join(bb, "bin", "sh")), "busybox");
  const r = await execa(join(bb, "bin", "sh"), ["-c", "echo $((6 * 7))"], { env: {}, extendEnv: false });
  assert.is(r.stdout, "42");
});

test("is idempotent and leaves no temp files; concurrent calls agree", async () => {
  const bb = join(dir, "bb");
  await ensureBusyboxDir(bb);
  const before = await stat(join(bb, "bin", "busybox"));
  await Promise.all([ensureBusyboxDir(bb), ensureBusyboxDir(bb), ensureBusyboxDir(bb)]);
  const after = await stat(join(bb, "bin", "busybox"));
  assert.is(after.ino, before.ino, "an intact copy is not replaced");
  const { stdout } = await execa("ls", ["-A", join(bb, "bin")]);
  assert.equal(stdout.split("\n").sort(), ["busybox", "sh"]);
});

test("repairs a damaged copy and a wrong sh link", async () => {
  const bb = join(dir, "bb");
  await ensureBusyboxDir(bb);
  await chmod(join(bb, "bin", "busybox"), 0o755);
  await writeFile(join(bb, "bin", "busybox"), "truncated");
  await rm(join(bb, "bin", "sh"));
  await writeFile(join(bb, "bin", "sh"), "not a link");
  await ensureBusyboxDir(bb);
  assert.ok((await readFile(join(bb, "bin", "busybox"))).equals(await readFile(hostBusybox)));
  assert.ok((await lstat(join(bb, "bin", "sh"))).isSymbolicLink());
});

test("says how to install busybox when it is missing", async () => {
  const err = await ensureBusyboxDir(join(dir, "bb"), join(dir, "no-such-busybox")).catch((e: unknown) => e);
  assert.instance(err, BusyboxMissingError);
  assert.match((err as Error).message, /install busybox-static: npm run setup/);
});

test.run();
