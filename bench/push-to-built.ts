// Push-to-built latency for a one-package change, beside what the same work costs without CI around it.
// A real `flox server`, one real `flox builder` (own chroot store, polling every 200 ms) and real `git push`es
// of a small repo (writeShellScriptBin, runCommand, stdenv.mkDerivation, writeTextFile; one dependency edge).
// After the first push is built, N times: change the text `greet` echoes, push, and time from `git push`
// starting until the API shows greet's build `succeeded`, split into phases by the timestamps the server keeps.
// Peers from the same run: a plain `nix-build` of the same changed package in a fresh chroot store (and in a
// store that has built the repo once, as the builder's has); for `git push -o skip-ci` (the gate runs, CI does
// not), a plain push of the same commit to stock `git http-backend` behind nginx (bench/git-http-backend-peer.ts),
// and that plus the gate's own Nix work (its nix-instantiate runs, timed alone): the floor of a gated push. Run after a build: `npx tsc -p tsconfig.json && node dist/bench/push-to-built.js [N]`.
// Prints figures (median, min–max); asserts nothing.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureBusyboxDir } from "../lib/busybox-dir.js";
import { type GitTreeEntry, listTree, materializeTree } from "../lib/git-tree.js";
import { evaluatePackages, parseNixFiles } from "../lib/nix-eval/index.js";
import {
  builderPhases,
  Ci,
  commitAll,
  finishedBuild,
  git,
  load,
  median,
  ms,
  PlainNix,
  withCleanup,
  workRepo,
} from "../testing/bench-ci.js";
import { removeTree } from "../testing/remove-tree.js";
import { emitFigures } from "./figures-out.js";
import { startGitHttpBackendPeer } from "./git-http-backend-peer.js";

const rounds = Math.max(1, Number(process.argv[2] ?? 3) || 3);

const greet = (text: string) => `{ writeShellScriptBin }:

writeShellScriptBin "greet" ''
  echo "${text}"
''
`;

const files: Record<string, string> = {
  "README.md": "push-to-built benchmark repo\n",
  "pkgs/greet/default.nix": greet("hello from round 0"),
  "pkgs/words/default.nix": `{ runCommand }:

runCommand "words-1.0" { } ''
  mkdir -p $out/share
  echo one two three four | wc -w > $out/share/count
''
`,
  "pkgs/notes/default.nix": `{ writeTextFile, words }:

writeTextFile {
  name = "notes";
  destination = "/share/notes.txt";
  text = "words: \${words}/share/count\\n";
}
`,
  "pkgs/tool/default.nix": `{ stdenv }:

stdenv.mkDerivation {
  pname = "tool";
  version = "1.0";
  src = ./src;
  buildPhase = ''
    sed -e 's|@version@|1.0|' tool.sh.in > tool
    chmod +x tool
  '';
  installPhase = ''
    mkdir -p $out/bin
    cp tool $out/bin/tool
  '';
}
`,
  "pkgs/tool/src/tool.sh.in": "#!/bin/sh\necho tool @version@\n",
};

interface Round {
  /** ms from `git push` starting, per phase. */
  received: number;
  evalStarted: number;
  evalFinished: number;
  pushReturned: number;
  claimed: number;
  succeeded: number;
  seen: number;
  /** The peers. */
  skipCiPush: number;
  /** The same commit pushed to git http-backend behind nginx. */
  plainPush: number;
  /** The gate's nix-instantiate runs (parse, then evaluate in read-only mode) over the same tree, alone. */
  gateNix: number;
  nixBuildFresh: number;
  nixBuildWarm: number;
  /** The builder's own account of the build step (its `phases (ms)` line), ms per phase. */
  builderPhases: Map<string, number>;
}

type Timed = Exclude<keyof Round, "builderPhases">;

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

/**
 * The Nix work the gate cannot avoid for `sha`'s tree: every .nix file parsed in one nix-instantiate, then every
 * package evaluated (read-only, dummy store) in another, with the gate's own sandbox and limits but none of the hook
 * around them. Resolves to the ms of those two runs alone (writing the tree out is not counted).
 */
async function gateNixMs(
  work: string,
  sha: string,
  dir: string,
  settings: { busyboxDir: string; basePath: string | null; system: string; memoryBytes?: number },
): Promise<number> {
  const entries: GitTreeEntry[] = await listTree(sha, { cwd: work });
  mkdirSync(dir, { recursive: true });
  await materializeTree(entries, dir, { cwd: work });
  const nixFiles = entries.filter((e) => e.path.endsWith(".nix")).map((e) => e.path);
  const packages = entries
    .map((e) => /^pkgs\/([^/]+)\/default\.nix$/.exec(e.path)?.[1])
    .filter((n): n is string => n !== undefined);
  const t0 = performance.now();
  const problems = await parseNixFiles(dir, nixFiles, { memoryBytes: settings.memoryBytes });
  const r = await evaluatePackages(
    {
      repoDir: dir,
      storeRoot: join(dir, "..", "unused-store"),
      busyboxDir: settings.busyboxDir,
      basePath: settings.basePath ?? undefined,
      system: settings.system,
      memoryBytes: settings.memoryBytes,
    },
    packages,
    { instantiate: false },
  );
  const took = performance.now() - t0;
  if (problems.length + r.problems.length > 0)
    throw new Error(`the gate's Nix work found problems: ${JSON.stringify([...problems, ...r.problems])}`);
  return took;
}

await withCleanup("flox-bench-p2b-", async (root, onCleanup) => {
  const ci = await Ci.start(root);
  onCleanup(() => ci.close());
  await ci.startBuilder("b1");
  const busybox = await ensureBusyboxDir(join(root, "busybox"));
  const nix = new PlainNix(join(root, "plain-nix"), busybox, ci.system);
  const peer = await startGitHttpBackendPeer(join(root, "git-http-backend"));
  onCleanup(() => peer.stop());
  const runFile = JSON.parse(readFileSync(join(ci.srv.dataDir, "run", "hooks.json"), "utf8")) as {
    busyboxDir: string;
    basePath: string | null;
    evalMemoryBytes?: number;
  };
  const work = join(root, "work");
  let sha = await workRepo(work, files);
  console.log(`1-min load average at the start: ${load()}`);

  // The first push builds everything; the builder's store then holds busybox and the base set's inputs.
  let t0 = performance.now();
  await git(work, "push", "-q", ci.gitUrl, "main");
  await git(work, "push", "-q", peer.url, "main");
  const first = await ci.waitJobs(
    sha,
    (jobs) => jobs.length === 4 && jobs.every((j) => finishedBuild(j.build.state)),
  );
  const notOk = first.jobs.filter((j) => j.build.state !== "succeeded");
  if (notOk.length) throw new Error(`first push: ${JSON.stringify(notOk)}\n${ci.logs()}`);
  console.log(`first push of 4 packages built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // The warm peer store: like the builder's, it has built the repo once.
  const warmStore = join(root, "warm-store");
  await nix.build(warmStore, work, ["greet", "words", "notes", "tool"]);

  const results: Round[] = [];
  for (let i = 1; i <= rounds; i++) {
    writeFileSync(join(work, "pkgs/greet/default.nix"), greet(`hello from round ${i} at ${Date.now()}`));
    sha = await commitAll(work, `greet round ${i}`);
    const start = Date.now();
    t0 = performance.now();
    await git(work, "push", "-q", ci.gitUrl, "main");
    const pushReturned = performance.now() - t0;
    await git(work, "push", "-q", peer.url, "main"); // the peer's repo keeps the same history
    const { jobs, seenAt } = await ci.waitJobs(sha, (js) => {
      const g = js.find((j) => j.attr === "greet");
      return g !== undefined && finishedBuild(g.build.state);
    });
    const job = jobs.find((j) => j.attr === "greet");
    if (job?.build.state !== "succeeded")
      throw new Error(`round ${i}: greet ${job?.build.state}\n${ci.logs()}`);
    const others = jobs.filter((j) => j.attr !== "greet" && j.build.state !== "succeeded");
    if (others.length) throw new Error(`round ${i}: more than greet was rebuilt: ${JSON.stringify(others)}`);
    const e = await ci.evaluationOf(sha);
    const p = await ci.pushOf(sha);
    const b = ci.buildTimes([job.build.id]).get(job.build.id);
    const since = (iso: string | null | undefined) => ms(iso) - start;

    // Peers, one at a time after the CI build (nothing competes for the two cores).
    const fresh = join(root, `fresh-store-${i}`);
    const [nixBuildFresh, outs] = await timed(() => nix.build(fresh, work, ["greet"]));
    if (outs[0] !== job.outputs.out)
      throw new Error(`nix-build made ${outs[0]}, the builder ${job.outputs.out}: not the same build`);
    await removeTree(fresh);
    const [nixBuildWarm] = await timed(() => nix.build(warmStore, work, ["greet"]));
    writeFileSync(join(work, "pkgs/greet/default.nix"), greet(`skip-ci round ${i} at ${Date.now()}`));
    const skipSha = await commitAll(work, `greet skip-ci ${i}`);
    // The same commit (same objects to send) to both, in alternating order so neither always goes first.
    const pushPeer = () => timed(() => git(work, "push", "-q", peer.url, "main"));
    const pushSkip = () => timed(() => git(work, "push", "-q", "-o", "skip-ci", ci.gitUrl, "main"));
    let skipCiPush: number;
    let plainPush: number;
    if (i % 2) {
      [[skipCiPush], [plainPush]] = [await pushSkip(), await pushPeer()];
    } else {
      [[plainPush], [skipCiPush]] = [await pushPeer(), await pushSkip()];
    }
    const gateNix = await gateNixMs(work, skipSha, join(root, `gate-nix-${i}`), {
      busyboxDir: runFile.busyboxDir,
      basePath: runFile.basePath,
      system: ci.system,
      ...(runFile.evalMemoryBytes ? { memoryBytes: runFile.evalMemoryBytes } : {}),
    });
    // Read after the peers: the builder prints the line just after its report was answered.
    const seen = builderPhases(ci.builders.map((x) => x.log()).join("\n")).find(
      (x) => x.build === job.build.id,
    );
    const bp = new Map(seen?.phases);
    bp.set("total", seen?.total ?? Number.NaN);
    // The claim's answer reached the builder this long after the claim's transaction stamped started_at.
    bp.set("claim answered", (seen?.received ?? Number.NaN) - ms(b?.startedAt));

    results.push({
      received: since(p?.receivedAt),
      evalStarted: since(e?.startedAt),
      evalFinished: since(e?.finishedAt),
      pushReturned,
      claimed: since(b?.startedAt),
      succeeded: since(b?.finishedAt),
      seen: seenAt - start,
      skipCiPush,
      plainPush,
      gateNix,
      nixBuildFresh,
      nixBuildWarm,
      builderPhases: bp,
    });
    console.log(
      `round ${i}: push to built ${(seenAt - start).toFixed(0)} ms (attempts ${b?.attempts}); nix-build fresh store ${nixBuildFresh.toFixed(0)} ms; load ${load()}`,
    );
  }

  const f = (x: number) => x.toFixed(0).padStart(6);
  const line = (label: string, xs: number[], extra = "") => {
    const max = Math.max(...xs).toFixed(0);
    console.log(
      `  ${label.padEnd(52)} ${f(median(xs))}  ${f(Math.min(...xs))} – ${extra ? max.padEnd(6) + extra : max}`,
    );
  };
  const phases: [string, Timed][] = [
    ["gate passed, push recorded (Push.receivedAt)", "received"],
    ["evaluation started", "evalStarted"],
    ["evaluation finished", "evalFinished"],
    ["`git push` returned (its hook waits for the eval)", "pushReturned"],
    ["build claimed by the builder (builds.started_at)", "claimed"],
    ["build succeeded, outputs uploaded (finished_at)", "succeeded"],
    ["push to built: seen `succeeded` through the API", "seen"],
  ];
  console.log(`\npush-to-built, one-package change, ${rounds} rounds (ms: median  min – max)`);
  console.log("  phases, from `git push` starting, in the order of their medians (+ = after the one above):");
  let prev = 0;
  for (const [label, key] of phases
    .map(([l, k]) => [l, k, median(results.map((r) => r[k]))] as const)
    .sort((a, b) => a[2] - b[2])) {
    const xs = results.map((r) => r[key]);
    line(label, xs, `  +${(median(xs) - prev).toFixed(0)}`);
    prev = median(xs);
  }
  console.log("  the build step as the builder saw it (its `phases (ms)` line), one after the other:");
  for (const k of results[0]?.builderPhases.keys() ?? []) {
    line(
      `  ${k}`,
      results.map((r) => r.builderPhases.get(k) ?? Number.NaN),
    );
  }
  console.log("  peers, the same changed package, same run:");
  const peers: [string, (r: Round) => number][] = [
    ["plain nix-build, fresh chroot store, no substituters", (r) => r.nixBuildFresh],
    ["plain nix-build, store that built the repo once", (r) => r.nixBuildWarm],
    ["git push -o skip-ci (the gate runs, CI does not)", (r) => r.skipCiPush],
    ["plain git push, same commit, http-backend + nginx", (r) => r.plainPush],
    ["the gate's nix-instantiate runs alone", (r) => r.gateNix],
    ["plain push + the gate's Nix (a gated push's floor)", (r) => r.plainPush + r.gateNix],
  ];
  for (const [label, of] of peers) line(label, results.map(of));
  const med = (key: Timed) => median(results.map((r) => r[key]));
  const how = `median of ${rounds}`;
  emitFigures([
    {
      id: "skip-ci-push",
      unit: "ms",
      ours: med("skipCiPush"),
      peer: med("plainPush"),
      peerLabel: `plain push, git http-backend + nginx (+ gate's Nix alone: ${median(results.map((r) => r.plainPush + r.gateNix)).toFixed(0)})`,
      how,
    },
    {
      id: "push-to-built",
      unit: "ms",
      ours: med("seen"),
      peer: med("nixBuildFresh"),
      peerLabel: "nix-build, fresh store",
      how,
    },
    {
      id: "build-step",
      unit: "ms",
      ours: median(results.map((r) => r.succeeded - r.claimed)),
      peer: med("nixBuildWarm"),
      peerLabel: "nix-build, warm store",
      how: `${how}; claimed → succeeded`,
    },
  ]);
});
