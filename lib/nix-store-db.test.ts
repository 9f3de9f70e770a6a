// lib/nix-store-db.ts reads what `nix-store --query --requisites` and `--dump-db` report, from the database itself:
// checked against both on a closure stock Nix built, as each Nix here reads it (the host's 2.8 and, when set up,
// 2.26), and its refusals (a path that is not valid, no database at all).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createNixTestStore } from "../testing/nix-store.js";
import { availableNixes } from "../testing/nix-versions.js";
import { probeNix } from "./nix-install.js";
import { closureRegistrations, StoreRegistrationError } from "./nix-store-db.js";
import { encodeNix32 } from "./nix32.js";

/** `nix-store --dump-db` records: path, hex hash, size, deriver, count, references. */
function parseDumpDb(text: string) {
  const lines = text.replace(/\n$/, "").split("\n");
  const out = new Map<string, { narHash: string; narSize: number; deriver: string; references: string[] }>();
  for (let i = 0; i < lines.length; ) {
    const count = Number(lines[i + 4]);
    out.set(lines[i] as string, {
      narHash: encodeNix32(Buffer.from(lines[i + 1] ?? "", "hex")),
      narSize: Number(lines[i + 2]),
      deriver: lines[i + 3] ?? "",
      references: lines.slice(i + 5, i + 5 + count).sort(),
    });
    i += 5 + count;
  }
  return out;
}

test("a closure's registrations are what nix-store --query --requisites and --dump-db say, for each Nix", async () => {
  for (const dir of await availableNixes()) {
    const nix = await probeNix(dir);
    const store = await createNixTestStore();
    try {
      const env = { ...store.env, PATH: nix.path(store.env.PATH) };
      const dep = `run "reg-dep" "mkdir -p $out; echo dep > $out/f"`;
      const top = await store.buildOne(
        `let d = ${dep}; in run "reg-top" "mkdir -p $out; echo \${d} > $out/ref; ln -s $out $out/self"`,
      );
      const requisites = (await store.run(nix.bin("nix-store"), ["--query", "--requisites", top], { env }))
        .trim()
        .split("\n")
        .sort();
      const dumped = parseDumpDb(
        await store.run(nix.bin("nix-store"), ["--dump-db", ...requisites], { env }),
      );
      const regs = closureRegistrations(store.storeRoot, [top]);
      assert.equal([...regs.keys()].sort(), requisites, nix.describe());
      for (const p of requisites) {
        const r = regs.get(p);
        const d = dumped.get(p);
        assert.is(r?.narHash, d?.narHash, p);
        assert.is(r?.narSize, d?.narSize, p);
        assert.equal(r?.references, d?.references, p);
        assert.is(r?.deriver ?? "", d?.deriver, p);
      }
      // The self-reference (the symlink to $out) is kept, as Nix keeps it.
      assert.ok(regs.get(top)?.references.includes(top), JSON.stringify(regs.get(top)));
    } finally {
      await store.cleanup();
    }
  }
});

test("a path the store does not hold, or a directory with no Nix database, is a StoreRegistrationError", async () => {
  const store = await createNixTestStore();
  try {
    await store.buildOne(`run "reg-any" "mkdir $out"`);
    const absent = `/nix/store/${"b".repeat(32)}-absent`;
    assert.throws(
      () => closureRegistrations(store.storeRoot, [absent]),
      (e: unknown) =>
        e instanceof StoreRegistrationError && e.message.includes(`${absent} is not a valid path`),
    );
  } finally {
    await store.cleanup();
  }
  const empty = await mkdtemp(join(tmpdir(), "flox-no-db-"));
  try {
    assert.throws(
      () => closureRegistrations(empty, ["/nix/store/x"]),
      (e: unknown) => e instanceof StoreRegistrationError && e.message.includes("has no Nix database"),
    );
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});

test.run();
