// Issue 18: a builder killed with kill -9 runs no handler, and its Nix runs in a process group of its own; Nix and
// the builder script it started must still go (PDEATHSIG TERM: Nix takes it as an interrupt and kills its
// builder). A real nix-store --realise of a sleeping derivation, started by spawnNix in a process then SIGKILLed.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createNixTestStore } from "../../testing/nix-store.js";
import { waitFor } from "../../testing/wait-for.js";

/** pids whose command line contains `marker`. */
function running(marker: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").replace(/\0/g, " ").includes(marker))
        found.push(Number(name));
    } catch {}
  }
  return found;
}

test("kill -9 of the process that started nix-store: nix-store and its builder script end", async () => {
  const store = await createNixTestStore();
  const marker = `sleep ${900 + Math.floor(Math.random() * 99)}`;
  const pids: number[] = [];
  try {
    const drv = (
      await store.run("nix-instantiate", [
        "-E",
        `with import (/. + "${store.dir}/flox-test.nix"); run "flox-exit-sleeper" "${marker}; touch $out"`,
      ])
    ).trim();
    const module = fileURLToPath(new URL("./nix-process.js", import.meta.url));
    const script = `
      const { spawnNix } = await import(${JSON.stringify(module)});
      const e = { env: ${JSON.stringify(store.env)} };
      const { child } = spawnNix(e, "nix-store", ["--realise", ${JSON.stringify(drv)}], () => {});
      console.log(child.pid);
      setInterval(() => {}, 1000);
    `;
    const parent = spawn(process.execPath, ["--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const gone = new Promise((ok) => parent.once("exit", ok));
    const builder = await waitFor("the builder script to run", () => {
      const p = running(marker).filter(
        (pid) => !readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("nix-instantiate"),
      );
      return p.length > 0 && p;
    });
    const nix = running(drv).filter((pid) => pid !== parent.pid);
    pids.push(...builder, ...nix);
    assert.ok(nix.length > 0, "nix-store --realise should be running");
    parent.kill("SIGKILL");
    await gone;
    // Interrupted Nix kills its builder and exits; a few seconds on a busy machine.
    await waitFor(
      "nix-store and its builder to end",
      () => running(marker).length === 0 && running(drv).length === 0,
      {
        timeoutMs: 20_000,
        explain: () => `still running: ${[...running(marker), ...running(drv)].join(", ")}`,
      },
    );
  } finally {
    for (const pid of [...pids, ...running(marker)]) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    await store.cleanup();
  }
});

test.run();
