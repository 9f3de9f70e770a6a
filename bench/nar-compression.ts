// Which NAR compression should uploads use? Node 20 has brotli and gzip built in (no xz, no zstd), and
// Nix 2.8 reads br, gzip and none. This prints, for NARs of real trees, each codec's ratio and its
// compress/decompress speed, beside xz -6 (what Hydra and cache.nixos.org use) from the same run.
// Run after a build: `npx tsc -p tsconfig.json && node dist/bench/nar-compression.js`. Asserts nothing.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliCompressSync, brotliDecompressSync, constants, gunzipSync, gzipSync } from "node:zlib";
import { execa } from "execa";
import { narChunks } from "../lib/nar-writer.js";
import { projectRoot } from "../lib/project-root.js";

async function narOf(path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of narChunks(path)) parts.push(c);
  return Buffer.concat(parts);
}

function time<T>(fn: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t0 };
}

const codecs: { name: string; compress: (b: Buffer) => Buffer; decompress: (b: Buffer) => Buffer }[] = [
  { name: "none", compress: (b) => b, decompress: (b) => b },
  { name: "gzip -6", compress: (b) => gzipSync(b, { level: 6 }), decompress: gunzipSync },
  {
    name: "br q4",
    compress: (b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } }),
    decompress: brotliDecompressSync,
  },
  {
    name: "br q6",
    compress: (b) => brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 6 } }),
    decompress: brotliDecompressSync,
  },
];

async function xz(nar: Buffer): Promise<{ size: number; cms: number; dms: number }> {
  const t0 = performance.now();
  const c = await execa("xz", ["-6", "-T1", "-c"], { input: nar, encoding: "buffer" });
  const cms = performance.now() - t0;
  const t1 = performance.now();
  await execa("xz", ["-d", "-c"], { input: c.stdout, encoding: "buffer" });
  return { size: c.stdout.length, cms, dms: performance.now() - t1 };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "flox-bench-compress-"));
  try {
    const mixed = join(work, "mixed");
    mkdirSync(join(mixed, "bin"), { recursive: true });
    await execa("cp", ["/bin/busybox", join(mixed, "bin", "busybox")]);
    await execa("cp", ["-r", join(projectRoot, "lib"), join(mixed, "src")]);
    const random = join(work, "random");
    mkdirSync(random);
    writeFileSync(join(random, "blob"), randomBytes(4 * 1024 * 1024));
    const samples = [
      { name: "busybox binary + TS sources", nar: await narOf(mixed) },
      { name: "4 MiB random (incompressible)", nar: await narOf(random) },
    ];
    for (const s of samples) {
      const mib = s.nar.length / 1048576;
      console.log(`\n${s.name}: NAR ${mib.toFixed(2)} MiB`);
      console.log("codec     ratio   compress MiB/s   decompress MiB/s");
      for (const c of codecs) {
        const comp = time(() => c.compress(s.nar));
        const dec = time(() => c.decompress(comp.value));
        console.log(
          `${c.name.padEnd(8)}  ${(comp.value.length / s.nar.length).toFixed(3)}   ${(mib / (comp.ms / 1000)).toFixed(0).padStart(14)}   ${(mib / (dec.ms / 1000)).toFixed(0).padStart(16)}`,
        );
      }
      const x = await xz(s.nar);
      console.log(
        `xz -6     ${(x.size / s.nar.length).toFixed(3)}   ${(mib / (x.cms / 1000)).toFixed(0).padStart(14)}   ${(mib / (x.dms / 1000)).toFixed(0).padStart(16)}   (peer, external process)`,
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
