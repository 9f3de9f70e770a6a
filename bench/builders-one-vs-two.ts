// One `flox builder` beside two on the same 20 independent packages: time from `git push` starting until the
// API shows all 20 builds `succeeded`, each configuration on a fresh server with fresh builder stores and
// fresh package contents (a random salt), so nothing is shared or cached between them.
// Two kinds of work per package, both with busybox only:
// - `sleep 1`: no CPU, so two builders can halve the build part; this shows the scheduling overlap alone.
// - a busybox sh counting loop (~0.65 s of one core): two builders on this 2-core VM compete with each other,
//   the server and the Nix processes around every build; this shows what the cores allow.
// Every build also pays the builder's fixed costs (claim, substituting the .drv closure from the Storehouse,
// `nix copy` of the output, the result report): those overlap too.
// Run after a build: `npx tsc -p tsconfig.json && node dist/bench/builders-one-vs-two.js [sleep|cpu|both]`.
// Prints figures; asserts nothing.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { execa } from "execa";
import { Ci, finishedBuild, git, load, ms, withCleanup, workRepo } from "../testing/bench-ci.js";
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
  /** ms from `git push` starting, all 20 seen `succeeded`. */
  total: number;
  evalFinished: number;
  firstClaim: number;
  lastFinish: number;
  /** Mean claim → finished per build, ms. */
  perBuild: number;
}

async function measure(root: string, kind: Kind, builders: number): Promise<Figure> {
  const loadBefore = load();
  const ci = await Ci.start(root);
  try {
    for (let b = 1; b <= builders; b++) await ci.startBuilder(`b${b}`);
    const work = join(root, `work-${kind}-${builders}`);
    const sha = await workRepo(work, repoFiles(kind, randomBytes(8).toString("hex")));
    const start = Date.now();
    await git(work, "push", "-q", ci.gitUrl, "main");
    const { jobs, seenAt } = await ci.waitJobs(
      sha,
      (js) => js.length === PACKAGES && js.every((j) => finishedBuild(j.build.state)),
      240_000,
      100,
    );
    const bad = jobs.filter((j) => j.build.state !== "succeeded");
    if (bad.length) throw new Error(`${kind}/${builders}: ${JSON.stringify(bad)}\n${ci.logs()}`);
    const times = [...ci.buildTimes(jobs.map((j) => j.build.id)).values()];
    const e = await ci.evaluationOf(sha);
    const figure: Figure = {
      kind,
      builders,
      total: seenAt - start,
      evalFinished: ms(e?.finishedAt) - start,
      firstClaim: Math.min(...times.map((t) => ms(t.startedAt))) - start,
      lastFinish: Math.max(...times.map((t) => ms(t.finishedAt))) - start,
      perBuild: times.reduce((s, t) => s + ms(t.finishedAt) - ms(t.startedAt), 0) / times.length,
    };
    console.log(
      `${kinds[kind].label}, ${builders} builder${builders > 1 ? "s" : ""}: ${(figure.total / 1000).toFixed(1)} s (1-min load average before ${loadBefore}, after ${load()})`,
    );
    return figure;
  } finally {
    await ci.close();
  }
}

await withCleanup("flox-bench-builders-", async (root) => {
  // What the CPU work costs alone, on an idle core, in this run.
  const t0 = performance.now();
  await execa("/bin/busybox", ["sh", "-c", loop]);
  const loopMs = performance.now() - t0;

  const figures: Figure[] = [];
  for (const kind of chosen) {
    figures.push(await measure(root, kind, 1));
    figures.push(await measure(root, kind, 2));
  }

  const s = (x: number) => (x / 1000).toFixed(1).padStart(6);
  console.log(
    `\none builder vs two: ${PACKAGES} independent packages, s from \`git push\` starting (the sh loop alone: ${loopMs.toFixed(0)} ms)`,
  );
  console.log(
    "  work per package     builders  all succeeded  eval finished  first claim  last finished  per build",
  );
  for (const f of figures) {
    console.log(
      `  ${kinds[f.kind].label.padEnd(20)} ${String(f.builders).padStart(8)}  ${s(f.total)}         ${s(f.evalFinished)}         ${s(f.firstClaim)}       ${s(f.lastFinish)}         ${s(f.perBuild)}`,
    );
  }
  for (const kind of chosen) {
    const one = figures.find((f) => f.kind === kind && f.builders === 1);
    const two = figures.find((f) => f.kind === kind && f.builders === 2);
    if (one && two && kind === "sleep")
      emitFigures([
        {
          id: "builders-two",
          unit: "ms",
          ours: two.total,
          peer: one.total,
          peerLabel: "one builder",
          how: "one run each, push → all 20 succeeded",
        },
      ]);
    if (one && two)
      console.log(
        `  ${kinds[kind].label}: 1 builder / 2 builders = ${(one.total / two.total).toFixed(2)}× (build part, first claim to last finished: ${((one.lastFinish - one.firstClaim) / (two.lastFinish - two.firstClaim)).toFixed(2)}×)`,
      );
  }
});
