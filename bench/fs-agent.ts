// The FUSE store (`flox agent`) against the native disk holding the same tree, from the same run:
// warm stat storm and sequential read of a big file, and a Python-import-like probe of missing names with
// the tuned mount options, without them (--untuned), native, and through a C passthrough built against the
// same libfuse (fuse-passthrough.c: the kernel's own FUSE cost, the floor for any FUSE server). Prints
// figures; asserts nothing. Run as root with /dev/fuse, after a build:
// `npx tsc -p tsconfig.json && node dist/bench/fs-agent.js`.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { projectRoot } from "../lib/project-root.js";
import { copyToServer, forceUnmount, isMounted, startAgent, startServer } from "../testing/agent.js";
import { createNixTestStore } from "../testing/nix-store.js";
import { emitFigures } from "./figures-out.js";

const DIRS = Number(process.env.BENCH_DIRS ?? 200);
const FILES = Number(process.env.BENCH_FILES ?? 25);
const BIG_MIB = Number(process.env.BENCH_BIG_MIB ?? 128);
const ROUNDS = 5;

// One python3 process per measurement, so process start-up is not in the figures.
const PROBE = `
import os, sys, time, statistics
root, kind, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
rel = [l.rstrip("\\n") for l in open(sys.argv[4])]
dirs = sorted({os.path.dirname(r) for r in rel})
times = []
for _ in range(rounds):
    t = time.perf_counter()
    if kind == "stat":
        for r in rel: os.lstat(os.path.join(root, r))
    elif kind == "read":
        with open(os.path.join(root, "big"), "rb", buffering=0) as f:
            while f.read(1 << 20): pass
    elif kind == "missing":
        # What an import does per directory on sys.path: probe a few spellings of each module name.
        for d in dirs:
            for m in range(20):
                for suffix in (".cpython-311-x86_64-linux-gnu.so", ".abi3.so", ".so", ".py", ".pyc", "/__init__.py"):
                    try: os.stat(os.path.join(root, d, "mod%d%s" % (m, suffix)))
                    except FileNotFoundError: pass
    times.append(time.perf_counter() - t)
print(statistics.median(times))
`;

/** fuse-passthrough.c built against fuse-native's own libfuse 2.9 (its headers ship with it), or why not. */
async function buildCPassthrough(work: string): Promise<{ bin: string } | { skipped: string }> {
  let libfuse: { include: string; lib: string };
  try {
    const fromFuseNative = createRequire(createRequire(import.meta.url).resolve("fuse-native"));
    libfuse = fromFuseNative("fuse-shared-library") as { include: string; lib: string };
  } catch (err) {
    return { skipped: `no libfuse beside fuse-native (${(err as Error).message})` };
  }
  const bin = join(work, "fuse-passthrough");
  const libDir = dirname(libfuse.lib);
  const r = await execa(
    "gcc",
    [
      ...["-O2", "-Wall", "-D_FILE_OFFSET_BITS=64", `-I${libfuse.include}`],
      ...[join(projectRoot, "bench", "fuse-passthrough.c"), "-o", bin],
      ...[`-L${libDir}`, "-lfuse", `-Wl,-rpath,${libDir}`, "-lpthread"],
    ],
    { reject: false },
  );
  if (r.exitCode !== 0) return { skipped: `gcc failed: ${(r.stderr || String(r.exitCode)).slice(0, 300)}` };
  return { bin };
}

/** Mounts `root` at `mnt` through the C passthrough, in the foreground (a child we stop ourselves). */
async function mountCPassthrough(
  bin: string,
  root: string,
  mnt: string,
  options: string,
): Promise<ChildProcess> {
  mkdirSync(mnt, { recursive: true });
  const child = spawn(bin, [root, mnt, "-f", "-o", options], { stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; i < 100 && !(await isMounted(mnt)); i++) {
    if (child.exitCode !== null) break;
    await new Promise((ok) => setTimeout(ok, 50));
  }
  if (!(await isMounted(mnt))) {
    child.kill("SIGKILL");
    throw new Error(`the C passthrough did not mount at ${mnt}`);
  }
  return child;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "flox-bench-agent-"));
  const probe = join(work, "probe.py");
  writeFileSync(probe, PROBE);
  const server = await startServer();
  const src = await createNixTestStore();
  const agents: { stop(): Promise<unknown> }[] = [];
  let cChild: ChildProcess | undefined;
  const cMnt = join(work, "mnt-c");
  try {
    const tree = await src.buildOne(
      `run "flox-bench-tree" ''
        for d in $(seq 1 ${DIRS}); do mkdir -p $out/d$d; for f in $(seq 1 ${FILES}); do echo "$d $f" > $out/d$d/f$f.py; done; done
        dd if=/dev/urandom of=$out/big bs=1048576 count=${BIG_MIB} 2>/dev/null
      ''`,
    );
    await copyToServer(src, server, [tree], "none");
    const native = src.realPath(tree);
    const list = join(work, "files.txt");
    const rel = execFileSync("find", [".", "-mindepth", "1"], { cwd: native, encoding: "utf8" })
      .split("\n")
      .filter(Boolean)
      .map((p) => p.slice(2));
    writeFileSync(list, `${rel.join("\n")}\n`);
    const base = tree.slice("/nix/store/".length);

    const measure = async (root: string, kind: string): Promise<number> => {
      const { stdout } = await execa("python3", [probe, root, kind, "1", list]); // warm-up round
      void stdout;
      const r = await execa("python3", [probe, root, kind, String(ROUNDS), list]);
      return Number(r.stdout) * 1000;
    };
    const mounts: Record<string, string> = { native };
    for (const [name, extra] of [
      ["tuned", ["--negative-timeout", "60"]],
      ["untuned", ["--untuned"]],
    ] as const) {
      const mnt = join(work, `mnt-${name}`);
      const agent = await startAgent(server.url, { mount: mnt, cacheDir: join(work, `cache-${name}`) }, [
        ...extra,
      ]);
      agents.push(agent);
      const t0 = Date.now();
      await execa("ls", ["-lR", join(mnt, base)]);
      const st = await agent.status();
      console.log(
        `${name}: first ls -lR of the ${rel.length}-entry path (narinfo and signed listing): ${Date.now() - t0} ms, ${st.remote.bytesFetched} bytes of NAR fetched`,
      );
      mounts[name] = join(mnt, base);
    }
    // The agent's tuned mount options (fuse-store.ts) on the C passthrough, so only the server differs.
    const built = await buildCPassthrough(work);
    if ("bin" in built) {
      try {
        cChild = await mountCPassthrough(
          built.bin,
          native,
          cMnt,
          "ro,fsname=flox-c,default_permissions,allow_other,entry_timeout=86400,attr_timeout=86400,negative_timeout=60,kernel_cache",
        );
        mounts.c = cMnt;
      } catch (err) {
        console.log(`C libfuse passthrough: not measured: ${(err as Error).message}`);
      }
    } else console.log(`C libfuse passthrough: not measured: ${built.skipped}`);
    const rows: string[][] = [];
    for (const [kind, label] of [
      ["stat", `lstat of ${rel.length} entries`],
      ["missing", `${DIRS * 20 * 6} missing names (import-like)`],
      ["read", `sequential read of ${BIG_MIB} MiB`],
    ] as const) {
      const n = await measure(mounts.native as string, kind);
      const t = await measure(mounts.tuned as string, kind);
      const u = await measure(mounts.untuned as string, kind);
      const c = mounts.c ? await measure(mounts.c, kind) : Number.NaN;
      const fmt = (ms: number) =>
        kind === "read"
          ? `${ms.toFixed(1)} ms (${((BIG_MIB * 1000) / ms).toFixed(0)} MiB/s)`
          : `${ms.toFixed(1)} ms`;
      if (kind === "read")
        emitFigures([
          {
            id: "fuse-reread",
            unit: "ms",
            ours: t,
            peer: n,
            peerLabel: "native disk, same file",
            how: `median of ${ROUNDS}, warm, tuned`,
          },
          {
            id: "fuse-reread-c",
            unit: "ms",
            ours: c,
            peer: n,
            peerLabel: "native disk, same file",
            how: `median of ${ROUNDS}, warm, C passthrough on libfuse 2.9, the agent's mount options`,
          },
        ]);
      rows.push([
        label,
        fmt(n),
        `${fmt(t)} ×${(t / n).toFixed(2)}`,
        `${fmt(u)} ×${(u / n).toFixed(2)}`,
        Number.isNaN(c) ? "—" : `${fmt(c)} ×${(c / n).toFixed(2)}`,
      ]);
    }
    console.log(`\nwarm, median of ${ROUNDS} (ratio to native):`);
    console.log(
      ["what", "native", "flox agent (tuned)", "flox agent (untuned)", "C libfuse passthrough"].join(" | "),
    );
    for (const r of rows) console.log(r.join(" | "));
  } finally {
    for (const a of agents) await a.stop();
    await forceUnmount(cMnt);
    cChild?.kill("SIGKILL");
    await forceUnmount(join(work, "mnt-tuned"));
    await forceUnmount(join(work, "mnt-untuned"));
    await server.stop();
    await src.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
