// One `flox builder` beside two on the same 20 independent packages: time from `git push` starting until the
// last of the 20 builds finished (the server's timestamps; all must succeed), each configuration on a fresh server with fresh builder stores and
// fresh package contents (a random salt), so nothing is shared or cached between them.
// Two kinds of work per package, both with busybox only:
// - `sleep 1`: no CPU, so two builders can halve the build part; this shows the scheduling overlap alone.
// - a busybox sh counting loop (~0.65 s of one core): two builders on this 2-core VM compete with each other,
//   the server and the Nix processes around every build; this shows what the cores allow.
// Every build also pays the builder's fixed costs (claim, substituting the .drv closure from the Storehouse,
// the upload of the output, the result report): those overlap too.
// Peer from the same run (the floor the machine allows): the same 20 packages built by plain `nix-build` in
// chroot stores, one process building all 20 one at a time beside two processes building 10 each at once.
// Each round measures 1 builder, 2 builders and the peer; the ratios are the medians over the rounds.
// Run after a build: `npx tsc -p tsconfig.json && node dist/bench/builders-one-vs-two.js [sleep|cpu|both] [ROUNDS]`.
// Prints figures; asserts nothing.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { execa } from "execa";
import { ensureBusyboxDir } from "../lib/busybox-dir.js";
import {
  builderPhases,
  Ci,
  finishedBuild,
  git,
  load,
  median,
  ms,
  PlainNix,
  withCleanup,
  workRepo,
} from "../testing/bench-ci.js";
import { emitFigures } from "./figures-out.js";

const PACKAGES = 20;
const LOOP = 600_000;
const loop = `i=0; while [ $i -lt ${LOOP} ]; do i=$((i+1)); done`;
const kinds = {
  sleep: { label: "sleep 1 s", script: "sleep 1" },
  cpu: { label: `sh loop (${LOOP / 1000}k)`, script: loop },
} as const;
type Kind = keyof typeof kinds;

const arg = process.argv[2] ?? "both";
const chosen: Kind[] = arg === "sleep" || arg === "cpu" ? [arg] : ["sleep", "cpu"];
const rounds = Math.max(1, Number(process.argv[3] ?? 1) || 1);
const names = Array.from({ length: PACKAGES }, (_, i) => `w${String(i + 1).padStart(2, "0")}`);

function repoFiles(kind: Kind, salt: string): Record<string, string> {
  const files: Record<string, string> = { "README.md": `${PACKAGES} independent packages (${kind})\n` };
  for (let i = 1; i <= PACKAGES; i++) {
    const name = `w${String(i).padStart(2, "0")}`;
    files[`pkgs/${name}/default.nix`] = `{ runCommand }:

runCommand "${name}" { } ''
  ${kinds[kind].script}
  echo "${name} ${salt}" > $out
''
`;
  }
  return files;
}

interface Figure {
  kind: Kind;
  builders: number;
  /** ms from `git push` starting to the last of the 20 builds finishing, by the server's timestamps. */
  total: number;
  evalFinished: number;
  firstClaim: number;
  lastFinish: number;
  /** Mean claim → finished per build, ms. */
  perBuild: number;
  /** Mean ms per phase of a build, as the builders printed them. */
  phases: Map<string, number>;
  /** Mean ms a builder waited between the end of one build and the claim of its next (its idle gap). */
  idleGap: number;
  /** How many builds each builder ran (claim fairness). */
  perBuilder: number[];
}

/** The system the server evaluates for, from the first run: the peer's nix-build uses the same. */
let system = "";

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Mean of each phase over the builds, and each builder's mean gap from one build's end to its next claim. */
function phaseFigures(logs: string[]): {
  phases: Map<string, number>;
  idleGap: number;
  perBuilder: number[];
} {
  const sums = new Map<string, number[]>();
  const gaps: number[] = [];
  for (const log of logs) {
    const lines = builderPhases(log).sort((a, b) => a.received - b.received);
    for (const [i, l] of lines.entries()) {
      for (const [k, v] of [...l.phases, ["total", l.total] as const])
        sums.set(k, [...(sums.get(k) ?? []), v]);
      const prev = lines[i - 1];
      if (prev) gaps.push(l.received - (prev.received + prev.total));
    }
  }
  return {
    phases: new Map([...sums].map(([k, v]) => [k, mean(v)])),
    idleGap: gaps.length ? mean(gaps) : Number.NaN,
    perBuilder: logs.map((log) => builderPhases(log).length),
  };
}

async function measure(root: string, kind: Kind, builders: number): Promise<Figure> {
  const loadBefore = load();
  const ci = await Ci.start(root);
  system = ci.system;
  try {
    for (let b = 1; b <= builders; b++) await ci.startBuilder(`b${b}`);
    const work = join(root, `work-${kind}-${builders}`);
    const sha = await workRepo(work, repoFiles(kind, randomBytes(8).toString("hex")));
    const start = Date.now();
    await git(work, "push", "-q", ci.gitUrl, "main");
    // The figure comes from the server's timestamps, not from when a poll saw the end: polling every 100 ms
    // cost the server ~1.6 s of CPU over a 15 s run (two API reads each), CPU the two builders' Nix then lacked.
    const { jobs } = await ci.waitJobs(
      sha,
      (js) => js.length === PACKAGES && js.every((j) => finishedBuild(j.build.state)),
      240_000,
      1000,
    );
    const bad = jobs.filter((j) => j.build.state !== "succeeded");
    if (bad.length) throw new Error(`${kind}/${builders}: ${JSON.stringify(bad)}\n${ci.logs()}`);
    const times = [...ci.buildTimes(jobs.map((j) => j.build.id)).values()];
    const e = await ci.evaluationOf(sha);
    const lastFinish = Math.max(...times.map((t) => ms(t.finishedAt))) - start;
    const figure: Figure = {
      kind,
      builders,
      total: lastFinish,
      evalFinished: ms(e?.finishedAt) - start,
      firstClaim: Math.min(...times.map((t) => ms(t.startedAt))) - start,
      lastFinish,
      perBuild: times.reduce((s, t) => s + ms(t.finishedAt) - ms(t.startedAt), 0) / times.length,
      ...phaseFigures(ci.builders.map((b) => b.log())),
    };
    console.log(
      `${kinds[kind].label}, ${builders} builder${builders > 1 ? "s" : ""}: ${(figure.total / 1000).toFixed(1)} s (1-min load average before ${loadBefore}, after ${load()})`,
    );
    return figure;
  } finally {
    await ci.close();
  }
}

interface Peer {
  kind: Kind;
  /** One nix-build of all 20, one build at a time, ms. */
  serial: number;
  /** Two nix-builds of 10 each at once, ms (the later one's end). */
  parallel: number;
}

/** The same 20 packages (fresh salt) by plain nix-build: all in one process, then split over two at once. */
async function peer(root: string, nix: PlainNix, kind: Kind, round: number): Promise<Peer> {
  const dir = (what: string) => join(root, `peer-${kind}-${round}-${what}`);
  const timed = async (fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  const serialRepo = dir("repo-serial");
  await workRepo(serialRepo, repoFiles(kind, randomBytes(8).toString("hex")));
  const serial = await timed(() => nix.build(dir("store-serial"), serialRepo, names));
  const parallelRepo = dir("repo-parallel");
  await workRepo(parallelRepo, repoFiles(kind, randomBytes(8).toString("hex")));
  const parallel = await timed(() =>
    Promise.all([
      nix.build(dir("store-a"), parallelRepo, names.slice(0, PACKAGES / 2)),
      nix.build(dir("store-b"), parallelRepo, names.slice(PACKAGES / 2)),
    ]),
  );
  console.log(
    `${kinds[kind].label}, plain nix-build: ${(serial / 1000).toFixed(1)} s one at a time, ${(parallel / 1000).toFixed(1)} s as two processes at once (load ${load()})`,
  );
  return { kind, serial, parallel };
}

await withCleanup("flox-bench-builders-", async (root) => {
  // What the CPU work costs alone, on an idle core, in this run.
  const t0 = performance.now();
  await execa("/bin/busybox", ["sh", "-c", loop]);
  const loopMs = performance.now() - t0;

  const figures: Figure[] = [];
  const peers: Peer[] = [];
  let nix: PlainNix | undefined;
  for (let round = 1; round <= rounds; round++) {
    for (const kind of chosen) {
      figures.push(await measure(root, kind, 1));
      figures.push(await measure(root, kind, 2));
      nix ??= new PlainNix(join(root, "plain-nix"), await ensureBusyboxDir(join(root, "busybox")), system);
      peers.push(await peer(root, nix, kind, round));
    }
  }

  const s = (x: number) => (x / 1000).toFixed(1).padStart(6);
  console.log(
    `\none builder vs two: ${PACKAGES} independent packages, s from \`git push\` starting (the sh loop alone: ${loopMs.toFixed(0)} ms)`,
  );
  console.log("  work per package     builders  eval finished  first claim  last finished  per build");
  for (const f of figures) {
    console.log(
      `  ${kinds[f.kind].label.padEnd(20)} ${String(f.builders).padStart(8)}  ${s(f.evalFinished)}         ${s(f.firstClaim)}       ${s(f.lastFinish)}         ${s(f.perBuild)}`,
    );
  }
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  for (const kind of chosen) {
    const ones = figures.filter((f) => f.kind === kind && f.builders === 1);
    const twos = figures.filter((f) => f.kind === kind && f.builders === 2);
    const ps = peers.filter((p) => p.kind === kind);
    const ratios = ones.map((o, i) => o.total / (twos[i]?.total ?? Number.NaN));
    const buildParts = ones.map((o, i) => {
      const t = twos[i];
      return t ? (o.lastFinish - o.firstClaim) / (t.lastFinish - t.firstClaim) : Number.NaN;
    });
    const peerRatios = ps.map((p) => p.serial / p.parallel);
    console.log(
      `  ${kinds[kind].label}: 1 builder / 2 builders = ${x(median(ratios), 1)} (median of ${ratios.length}: ${ratios.map((r) => r.toFixed(2)).join(", ")}); build part, first claim to last finished: ${x(median(buildParts), 1)}`,
    );
    console.log(
      `  ${kinds[kind].label}, peer: plain nix-build, one process at a time / two at once = ${x(median(peerRatios), 1)} (${ps.map((p) => `${s(p.serial).trim()} s / ${s(p.parallel).trim()} s`).join(", ")})`,
    );
    for (const builders of [1, 2]) {
      const fs = figures.filter((f) => f.kind === kind && f.builders === builders);
      const keys = [...(fs[0]?.phases.keys() ?? [])];
      const parts = keys.map(
        (k) => `${k} ${median(fs.map((f) => f.phases.get(k) ?? Number.NaN)).toFixed(0)}`,
      );
      console.log(
        `    ${builders} builder${builders > 1 ? "s" : ""}, mean ms per build (median over rounds): ${parts.join(", ")}; idle between a builder's builds ${median(fs.map((f) => f.idleGap)).toFixed(0)}; builds per builder ${fs.map((f) => f.perBuilder.join("/")).join(", ")}`,
      );
    }
    if (kind === "sleep" && ones.length && twos.length)
      emitFigures([
        {
          id: "builders-two",
          unit: "ms",
          ours: median(twos.map((f) => f.total)),
          peer: median(ones.map((f) => f.total)),
          peerLabel: "one builder",
          how: `${rounds === 1 ? "one run each" : `median of ${rounds} runs each`}, push → the last of 20 finished; plain nix-build two at once vs one: ${x(median(peerRatios), 1)}`,
        },
      ]);
  }
});
