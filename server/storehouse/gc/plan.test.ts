// The plan, without I/O: unreachable paths only, a target taken least recently used first with referrers, an org's
// paths only when nothing else references them, and always referrers before what they reference.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { IndexedPath, PathIndex } from "./closure.js";
import { addClosure } from "./closure.js";
import { planCollection } from "./plan.js";

/** `name` padded to a 32-character hash part (test names are distinct letters). */
const h = (name: string) => name.padEnd(32, "0");

function index(spec: Record<string, { refs?: string[]; size?: number; used?: string }>): PathIndex {
  const out: PathIndex = new Map();
  for (const [name, p] of Object.entries(spec)) {
    const hash = h(name);
    const path: IndexedPath = {
      hash,
      storePath: `/nix/store/${hash}-${name}`,
      narFile: `nar/${name}.nar`,
      fileSize: p.size ?? 100,
      refs: (p.refs ?? []).map(h),
      createdAt: "2026-01-01T00:00:00.000Z",
      lastAccessedAt: p.used ?? null,
    };
    out.set(hash, path);
  }
  return out;
}

const names = (paths: IndexedPath[]) => paths.map((p) => p.storePath.slice(-1));

// root r → k; garbage chains x → y → z and w → z (z shared), and v alone.
const idx = index({
  r: { refs: ["k"] },
  k: {},
  x: { refs: ["y"], used: "2026-03-01T00:00:00.000Z" },
  y: { refs: ["z"], used: "2026-01-05T00:00:00.000Z" },
  z: { used: "2026-01-02T00:00:00.000Z" },
  w: { refs: ["z"], used: "2026-04-01T00:00:00.000Z" },
  v: { used: "2026-02-01T00:00:00.000Z" },
});
const live = addClosure(idx, [h("r")], new Set());

test("everything unreachable goes, each path after every path that references it", () => {
  const plan = planCollection(idx, live, { targetBytes: null, onlyHashes: null });
  const order = names(plan.paths);
  assert.equal([...order].sort(), ["v", "w", "x", "y", "z"]);
  const at = (n: string) => order.indexOf(n);
  assert.ok(at("x") < at("y") && at("y") < at("z") && at("w") < at("z"), order.join(" "));
  assert.is(plan.bytes, 500);
  assert.is(plan.totalBytes, 700);
});

test("a target takes the least recently used first, and with it every path that references it", () => {
  // 700 bytes held; under 450 needs 300 freed: z is the oldest use, and takes y, x and w (its referrers) with it.
  const plan = planCollection(idx, live, { targetBytes: 450, onlyHashes: null });
  assert.equal([...names(plan.paths)].sort(), ["w", "x", "y", "z"]);
  // Under 650: 100 bytes; z is still the oldest, but taking it means its referrers: v (alone) is not needed.
  const small = planCollection(idx, live, { targetBytes: 650, onlyHashes: null });
  assert.ok(names(small.paths).includes("z") && !names(small.paths).includes("v"));
  assert.equal(planCollection(idx, live, { targetBytes: 10_000, onlyHashes: null }).paths, []);
});

test("an org's run takes its paths only when no path outside it references them", () => {
  const only = new Set([h("z"), h("y"), h("v")]);
  // z is referenced by w, which is not the org's: z stays, and y (referenced only by x, not the org's) too.
  assert.equal(names(planCollection(idx, live, { targetBytes: null, onlyHashes: only }).paths), ["v"]);
  const all = new Set([h("x"), h("y"), h("z"), h("w")]);
  assert.equal([...names(planCollection(idx, live, { targetBytes: null, onlyHashes: all }).paths)].sort(), [
    "w",
    "x",
    "y",
    "z",
  ]);
});

test.run();
