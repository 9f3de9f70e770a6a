// A machine's profile links: switching makes the generation live atomically, and only the newest five links stay.
import { lutimes, mkdtemp, readdir, readlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { removeTree } from "../testing/remove-tree.js";
import {
  GENERATION_LINK_GRACE_MS,
  KEEP_GENERATION_LINKS,
  linkedGeneration,
  pruneGenerationLinks,
  switchProfile,
} from "./profile-links.js";

const path = (n: number) =>
  `/nix/store/${String(n)
    .padStart(32, "a")
    .slice(-32)
    .replace(/[eotu]/g, "a")}-user-environment`;

/** Makes every generation link of acme/dev look made `ms` ago (lutimes: the link itself, not its target). */
async function age(dir: string, ms: number): Promise<void> {
  const when = new Date(Date.now() - ms);
  for (const f of await readdir(join(dir, "acme")))
    if (f.endsWith("-link")) await lutimes(join(dir, "acme", f), when, when);
}

test("only the newest generation links stay (once past the grace), and a rollback to an old one keeps it", async () => {
  const dir = await mkdtemp(join(tmpdir(), "flox-links-"));
  try {
    for (let g = 1; g <= 7; g++) assert.ok(await switchProfile(dir, "acme", "dev", g, path(g)));
    const links = () => readdir(join(dir, "acme")).then((l) => l.filter((f) => f.endsWith("-link")).sort());
    assert.is((await links()).length, 7, "links made within the grace stay: a reader may be following one");
    await age(dir, GENERATION_LINK_GRACE_MS + 1000);
    assert.ok(await switchProfile(dir, "acme", "dev", 8, path(8)));
    assert.is(KEEP_GENERATION_LINKS, 5);
    assert.equal(await links(), ["dev-4-link", "dev-5-link", "dev-6-link", "dev-7-link", "dev-8-link"]);
    assert.is(await linkedGeneration(dir, "acme", "dev"), 8);
    assert.is(await readlink(join(dir, "acme", "dev-8-link")), path(8));
    // Rolled back to generation 2 (the server's rollback makes a new number, but a machine may be told an old one).
    await switchProfile(dir, "acme", "dev", 2, path(2));
    await age(dir, GENERATION_LINK_GRACE_MS + 1000);
    assert.equal(await pruneGenerationLinks(dir, "acme", "dev"), [], "2 is live, 4-8 the newest five");
    assert.is(await linkedGeneration(dir, "acme", "dev"), 2);
    assert.ok((await links()).includes("dev-2-link"), "the live link is never pruned");
    assert.is((await links()).length, 6);
  } finally {
    await removeTree(dir);
  }
});

test.run();
