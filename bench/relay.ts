// The shared Nix daemon's costs, beside its peers from the same run. A real server with its daemon, real builders,
// `flox agent --daemon-socket`, and stock Nix clients in a fresh /nix whose store is the agent's mount.
// - A small build (a busybox derivation, new each round): `nix-build` through the relay (client → server → builder
//   → client, the output imported into the shared store) vs the same `nix-build` in a local chroot store.
// - 20 independent derivations in one `nix-build` through the relay, on 1 builder and then on 2.
// - A no-op query (`nix-store -q --hash`), per call: through the relay, straight at the shared daemon's socket
//   (no relay), and at a plain local nix-daemon on a chroot store.
// Run after a build: `node dist/bench/relay.js [ROUNDS]`. Prints figures (median, min–max); asserts nothing.
import { spawn } from "node:child_process";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { daemonPaths } from "../server/nix-daemon/daemon-files.js";
import { load, median } from "../testing/bench-ci.js";
import { type BuilderProcess, serverSystem, startBuilderProcess } from "../testing/builder.js";
import { queryDb } from "../testing/ci-harness.js";
import { createNixTestStore } from "../testing/nix-store.js";
import { helloExpression, runRelayClient, startRelayWorld } from "../testing/relay-world.js";

const rounds = Math.max(1, Number(process.argv[2] ?? 3) || 3);
const QUERIES = 20;

const fmt = (xs: number[]) =>
  `${Math.round(median(xs))} ms (${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))})`;

/** `T=<ns>` lines a client script printed, in ms. */
const times = (out: string) => [...out.matchAll(/^T=(\d+)$/gm)].map((m) => Number(m[1]) / 1e6);
const timed = (cmd: string) =>
  `s=$(date +%s%N); ${cmd} >/dev/null || exit 1; e=$(date +%s%N); echo "T=$((e - s))"`;

async function main(): Promise<void> {
  const w = await startRelayWorld("flox-bench-relay-");
  const local = await createNixTestStore();
  let b2: BuilderProcess | undefined;
  let plainDaemon: ReturnType<typeof spawn> | undefined;
  try {
    process.stdout.write(`load at start: ${load()}\n`);
    const client = async (name: string, script: string) => {
      const r = await runRelayClient(w, { dir: await mkdtemp(join(w.tmp, `bench-${name}-`)), script });
      if (r.exitCode !== 0) throw new Error(`${name}: ${r.stderr}`);
      return r.stdout;
    };
    // Warm: the busybox source and the first round trip.
    await writeFile(join(w.tmp, "warm.nix"), helloExpression(w.busybox, "bench-warm"));
    await client("warm", `nix-build --no-out-link ${join(w.tmp, "warm.nix")}`);

    const relayed: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const file = join(w.tmp, `small-${i}.nix`);
      await writeFile(file, helloExpression(w.busybox, `bench-small-${i}`));
      relayed.push(...times(await client(`small-${i}`, timed(`nix-build --no-out-link ${file}`))));
      const lfile = join(local.dir, `small-${i}.nix`);
      await writeFile(lfile, helloExpression(local.busyboxDir, `bench-local-${i}`));
      const t0 = performance.now();
      await local.run("nix-build", ["--no-out-link", lfile]);
      plain.push(performance.now() - t0);
    }
    process.stdout.write(
      `small build: relay ${fmt(relayed)} · local nix-build (chroot store) ${fmt(plain)} · goal ≤ 1.5× local + 300 ms = ${Math.round(1.5 * median(plain) + 300)} ms\n`,
    );

    const many = async (tag: string) => {
      const file = join(w.tmp, `${tag}.nix`);
      const drvs = Array.from(
        { length: 20 },
        (_, i) => `(${helloExpression(w.busybox, `${tag}-${i}`, { sleep: 1 }).trim()})`,
      );
      await writeFile(file, `[\n${drvs.join("\n")}\n]\n`);
      return times(await client(tag, timed(`nix-build --no-out-link ${file}`)))[0] ?? Number.NaN;
    };
    const one = await many("bench-twenty-one");
    const token = await w.token({ scope: "builder", name: "b2" });
    b2 = startBuilderProcess(w.srv, {
      name: "b2",
      token: token.secret,
      store: join(w.tmp, "store-b2"),
      system: await serverSystem(w.srv.dataDir),
    });
    const two = await many("bench-twenty-two");
    const byBuilder = queryDb<{ builder: string; n: number }>(
      w.srv.dataDir,
      "select r.builder, count(*) as n from build_results r join builds b on b.id = r.build_id where b.drv_path like '%-bench-twenty-two-%' group by r.builder",
    );
    // How the daemon handed them to the farm: the spread of their queue times, and how many ran at once at most.
    const rows = queryDb<{ created_at: string; started_at: string; finished_at: string }>(
      w.srv.dataDir,
      "select created_at, started_at, finished_at from builds where drv_path like '%-bench-twenty-two-%'",
    );
    const created = rows.map((r) => Date.parse(r.created_at));
    const spread = Math.max(...created) - Math.min(...created);
    const overlap = Math.max(
      ...rows.map(
        (r) => rows.filter((o) => o.started_at <= r.started_at && o.finished_at > r.started_at).length,
      ),
    );
    process.stdout.write(
      `20 independent 1 s derivations through the relay: 1 builder ${Math.round(one)} ms · 2 builders ${Math.round(two)} ms (built by ${byBuilder.map((r) => `${r.builder}: ${r.n}`).join(", ")}; queued over ${spread} ms, at most ${overlap} running at once)\n`,
    );

    // The no-op query: the warm output, asked QUERIES times per round.
    const out = (await client("out", `nix-build --no-out-link ${join(w.tmp, "warm.nix")}`))
      .trim()
      .split("\n")
      .pop();
    const loop = `i=0; s=$(date +%s%N); while [ $i -lt ${QUERIES} ]; do nix-store -q --hash ${out} >/dev/null || exit 1; i=$((i+1)); done; e=$(date +%s%N); echo "T=$(((e - s) / ${QUERIES}))"`;
    const viaRelay: number[] = [];
    const direct: number[] = [];
    const localDaemon: number[] = [];
    const shared = daemonPaths(w.srv.dataDir, join(w.srv.dataDir, "logs")).socket;
    const lout = await local.buildOne(`run "bench-query" "echo q > $out"`);
    const lsock = join(local.dir, "daemon.sock");
    plainDaemon = spawn("nix-daemon", ["--daemon"], {
      env: { ...local.env, NIX_REMOTE: `local?root=${local.storeRoot}`, NIX_DAEMON_SOCKET_PATH: lsock },
      stdio: "ignore",
    });
    for (let i = 0; i < 100 && !(await stat(lsock).catch(() => undefined)); i++)
      await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < rounds; i++) {
      viaRelay.push(...times(await client(`q-${i}`, loop)));
      direct.push(
        ...times(await client(`qd-${i}`, `NIX_REMOTE=unix://${shared}; export NIX_REMOTE; ${loop}`)),
      );
      const r = await execa("sh", ["-c", loop.replaceAll(String(out), lout)], {
        env: { ...local.env, NIX_REMOTE: `unix://${lsock}` },
        extendEnv: false,
      });
      localDaemon.push(...times(String(r.stdout)));
    }
    process.stdout.write(
      `nix-store -q --hash, per call: relay ${fmt(viaRelay)} · the shared daemon's socket directly ${fmt(direct)} · a local nix-daemon ${fmt(localDaemon)}\n`,
    );
    process.stdout.write(`load at end: ${load()}\n`);
  } finally {
    plainDaemon?.kill("SIGTERM");
    await b2?.stop();
    await local.cleanup();
    await w.stop();
    await rm(join(w.tmp), { recursive: true, force: true });
  }
}

await main();
