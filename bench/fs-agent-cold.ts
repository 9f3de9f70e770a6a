// Cold start: bytes and time to the first run of one program of a 20-package profile, lazily through
// `flox agent` (only the touched closure) beside fetching the whole closure first with a stock Nix client
// (`nix-store -r` from the Storehouse into a fresh chroot store). Prints figures; asserts nothing.
// Run as root with /dev/fuse, after a build: `npx tsc -p tsconfig.json && node dist/bench/fs-agent-cold.js`.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { parseNarInfo } from "../lib/narinfo.js";
import { copyToServer, forceUnmount, startAgent, startServer, substituteWithNix } from "../testing/agent.js";
import { createNixTestStore } from "../testing/nix-store.js";

const PACKAGES = 20;
const MIB_EACH = Number(process.env.BENCH_MIB_EACH ?? 4);

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "flox-bench-cold-"));
  const server = await startServer();
  const src = await createNixTestStore();
  const client = await createNixTestStore();
  const mnt = join(work, "mnt");
  try {
    // 20 packages, each a program plus MIB_EACH MiB of data; the profile references them all.
    const profile = await src.buildOne(
      `let pkg = i: run "pkg\${toString i}" ''
          mkdir -p $out/bin $out/share
          printf '#!%s/bin/sh\\necho pkg\${toString i}\\n' \${busybox} > $out/bin/pkg\${toString i}
          chmod +x $out/bin/pkg\${toString i}
          dd if=/dev/urandom of=$out/share/data bs=1048576 count=${MIB_EACH} 2>/dev/null
        '';
        pkgs = map pkg (builtins.genList (i: i + 1) ${PACKAGES});
      in run "profile" "mkdir -p $out; \${builtins.concatStringsSep "; " (map (p: "ln -s \${p}/bin/* $out/") pkgs)}"`,
    );
    await copyToServer(src, server, [profile], "br");
    const closure = (await src.run("nix-store", ["-qR", profile])).split("\n").filter(Boolean);
    let closureBytes = 0;
    for (const p of closure) {
      const text = await (await fetch(`${server.url}/cache/${p.slice(11, 43)}.narinfo`)).text();
      closureBytes += parseNarInfo(text).fileSize ?? 0;
    }

    const agent = await startAgent(server.url, { mount: mnt, cacheDir: join(work, "cache") });
    let t = Date.now();
    const run = await execa("unshare", [
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      `mount --bind ${mnt} /nix/store && exec ${profile}/pkg7`,
    ]);
    const lazyMs = Date.now() - t;
    const st = await agent.status();
    await agent.stop();

    t = Date.now();
    await substituteWithNix(client, server, profile);
    await execa(client.realPath(`${profile}/pkg7`), [], { reject: false });
    const fullMs = Date.now() - t;

    const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
    console.log(
      `first run of one program of a ${PACKAGES}-package profile (${closure.length} paths, ${mib(closureBytes)} compressed):`,
    );
    console.log(
      `  flox agent (lazy):        ${lazyMs} ms, ${mib(st.remote.bytesFetched)} fetched, ${st.cache.paths} paths — printed "${run.stdout}"`,
    );
    console.log(
      `  nix-store -r (closure):   ${fullMs} ms, ${mib(closureBytes)} fetched, ${closure.length} paths`,
    );
  } finally {
    await forceUnmount(mnt);
    await server.stop();
    await src.cleanup();
    await client.cleanup();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
