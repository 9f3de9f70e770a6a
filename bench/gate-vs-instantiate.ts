// The push gate's cost for 10 and 500 packages, beside its peers from the same run:
// a plain `git push` (no hooks) and a raw `nix-instantiate` of the same tree (parse + eval).
// Run after a build: `npx tsc -p tsconfig.json && node dist/bench/gate-vs-instantiate.js [sizes...]`.
// Prints figures (median of 3 fresh pushes each); asserts nothing.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { ensureBusyboxDir } from "../lib/busybox-dir.js";
import { compiledPath, frameworkPath } from "../lib/project-root.js";
import { writeRepo } from "./generated-repo.js";

const sizes = process.argv.slice(2).map(Number).filter(Boolean);
const runs = 3;
const env = {
  GIT_AUTHOR_NAME: "bench",
  GIT_AUTHOR_EMAIL: "bench@flox.invalid",
  GIT_COMMITTER_NAME: "bench",
  GIT_COMMITTER_EMAIL: "bench@flox.invalid",
};

async function bareRepo(root: string, withGate: boolean, runFile: string): Promise<string> {
  const dir = mkdtempSync(join(root, "bare-"));
  await execa("git", ["init", "-q", "--bare", "-b", "main", dir]);
  if (withGate) {
    await execa("git", ["-C", dir, "config", "flox.org", "bench"]);
    await execa("git", ["-C", dir, "config", "flox.runFile", runFile]);
    const hook = join(dir, "hooks", "pre-receive");
    writeFileSync(
      hook,
      `#!/bin/sh\nexec '${process.execPath}' '${compiledPath("hooks/pre-receive.ts")}' "$@"\n`,
    );
    chmodSync(hook, 0o755);
  }
  return dir;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function benchSize(root: string, n: number, busyboxDir: string, runFile: string) {
  const work = join(root, `work-${n}`);
  writeRepo(work, n);
  await execa("git", ["init", "-q", "-b", "main"], { cwd: work });
  await execa("git", ["add", "-A"], { cwd: work });
  await execa("git", ["commit", "-qm", "bench"], { cwd: work, env });
  const files = Array.from({ length: n }, (_, i) =>
    join(work, "pkgs", `p${String(i).padStart(4, "0")}`, "default.nix"),
  );
  const expr = `map (p: p.drvPath) (builtins.attrValues (import ${frameworkPath} { repo = ${work}; busybox = ${busyboxDir}; }))`;

  const plain: number[] = [];
  const gated: number[] = [];
  const instantiate: number[] = [];
  for (let r = 0; r < runs; r++) {
    const a = await bareRepo(root, false, runFile);
    plain.push(await timed(() => execa("git", ["push", "-q", a, "main"], { cwd: work })));
    const b = await bareRepo(root, true, runFile);
    gated.push(await timed(() => execa("git", ["push", "-q", b, "main"], { cwd: work })));
    instantiate.push(
      await timed(async () => {
        await execa("nix-instantiate", ["--parse", ...files], { stdout: "ignore" });
        await execa("nix-instantiate", ["--store", "dummy://", "--eval", "--strict", "--json", "-E", expr], {
          stdout: "ignore",
        });
      }),
    );
  }
  return { n, plain: median(plain), gated: median(gated), instantiate: median(instantiate) };
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "flox-bench-gate-"));
  try {
    const busyboxDir = join(root, "busybox");
    await ensureBusyboxDir(busyboxDir);
    const runFile = join(root, "hooks.json");
    const settings = {
      serverUrl: "http://127.0.0.1:9",
      hookSecret: "bench",
      maxFileSize: 10 * 1024 * 1024,
      storeRoot: join(root, "nix-root"),
      busyboxDir,
      basePath: null,
      system: "x86_64-linux",
    };
    writeFileSync(runFile, JSON.stringify(settings));
    const rows = [];
    for (const n of sizes.length ? sizes : [10, 500])
      rows.push(await benchSize(root, n, busyboxDir, runFile));
    console.log(`push gate vs peers, median of ${runs} (ms)`);
    console.log(
      "packages  git push (no hooks)  git push + gate  gate overhead  raw nix-instantiate (parse+eval)",
    );
    for (const r of rows) {
      const fmt = (x: number) => x.toFixed(0).padStart(8);
      console.log(
        `${String(r.n).padStart(8)}  ${fmt(r.plain)}             ${fmt(r.gated)}         ${fmt(r.gated - r.plain)}       ${fmt(r.instantiate)}`,
      );
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
