// Gate and evaluation of a 500-package push under each Nix here (the host's 2.8, .cache/nix-2.26), each beside raw
// nix-instantiate of the same Nix on the same tree: what choosing a Nix costs flox, and what flox adds over Nix.
// Run after a build: `npx tsc -p tsconfig.json && node dist/bench/nix-versions.js [packages]`. Median of 3; asserts
// nothing.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { ensureBusyboxDir } from "../lib/busybox-dir.js";
import { evaluatePackages, parseNixFiles } from "../lib/nix-eval/index.js";
import { nixBinVariable, probeNix } from "../lib/nix-install.js";
import { isolatedNixEnv } from "../lib/nix-isolated-env.js";
import { frameworkPath } from "../lib/project-root.js";
import { availableNixes } from "../testing/nix-versions.js";
import { writeRepo } from "./generated-repo.js";

const n = Number(process.argv[2] ?? 500);
const runs = 3;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "flox-bench-nix-versions-"));
  try {
    const busyboxDir = await ensureBusyboxDir(join(root, "busybox"));
    const repo = join(root, "repo");
    writeRepo(repo, n);
    const names = readdirSync(join(repo, "pkgs")).sort();
    const files = names.map((p) => `pkgs/${p}/default.nix`);
    const nixes = await availableNixes();
    if (nixes.length === 1)
      console.log("no .cache/nix-2.26 (npm run setup -- --modern-nix): the host's Nix only");
    console.log(`${n} packages, median of ${runs} (ms)`);
    console.log("Nix      gate (parse+eval)  raw parse+eval  evaluator (instantiate)  raw nix-instantiate");
    for (const dir of nixes) {
      // Every Nix process flox starts takes the Nix from here (lib/nix-isolated-env).
      if (dir) process.env[nixBinVariable] = dir;
      else delete process.env[nixBinVariable];
      const nix = await probeNix(dir);
      const { env } = await isolatedNixEnv({
        dir: join(root, `raw-${nix.version}`),
        conf: ["substituters ="],
      });
      const expr = (store: boolean) =>
        `${store ? "" : "map (p: p.drvPath) "}(builtins.attrValues (import ${frameworkPath} { repo = ${repo}; busybox = ${busyboxDir}; }))`;
      const gate: number[] = [];
      const rawEval: number[] = [];
      const evaluator: number[] = [];
      const rawInstantiate: number[] = [];
      for (let r = 0; r < runs; r++) {
        const opts = { repoDir: repo, storeRoot: join(root, `store-${nix.version}-${r}`), busyboxDir };
        gate.push(
          await timed(async () => {
            const problems = await parseNixFiles(repo, files);
            const e = await evaluatePackages(opts, names, { instantiate: false });
            if (problems.length || e.problems.length || e.jobs.length !== n)
              throw new Error("the gate refused");
          }),
        );
        rawEval.push(
          await timed(async () => {
            await execa(nix.bin("nix-instantiate"), ["--parse", ...files.map((f) => join(repo, f))], {
              env,
              stdout: "ignore",
            });
            await execa(
              nix.bin("nix-instantiate"),
              ["--store", "dummy://", "--eval", "--strict", "--json", "-E", expr(false)],
              { env, stdout: "ignore" },
            );
          }),
        );
        evaluator.push(
          await timed(async () => {
            const e = await evaluatePackages(opts, names, { instantiate: true });
            if (e.jobs.length !== n) throw new Error(`the evaluator found ${e.problems.length} problems`);
          }),
        );
        const rawStore = join(root, `raw-store-${nix.version}-${r}`);
        rawInstantiate.push(
          await timed(() =>
            execa(nix.bin("nix-instantiate"), ["--store", rawStore, "-E", expr(true)], {
              env,
              stdout: "ignore",
            }),
          ),
        );
      }
      const fmt = (x: number, w: number) => x.toFixed(0).padStart(w);
      console.log(
        `${nix.version.padEnd(7)}  ${fmt(median(gate), 17)}  ${fmt(median(rawEval), 14)}  ${fmt(median(evaluator), 23)}  ${fmt(median(rawInstantiate), 19)}`,
      );
    }
  } finally {
    await execa("chmod", ["-R", "u+w", root], { reject: false });
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
