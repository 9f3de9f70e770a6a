// Runs the uvu suite from dist/ and ends with the line CI reads: "N passed, N failed".
// Each test file is its own uvu process; FLOX_TEST_JOBS of them run at once (default 2: most files wait on
// git, Nix, servers and builders rather than compute, so two at a time roughly halve the wall time on two
// cores). A file's output is printed whole when it ends, so the log reads file by file.
// Plain JS so that it runs before and without the TypeScript build.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, realpathSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
// The argument narrows the run (a regex over the path under dist/); only *.test.js files are ever run, so that
// helpers such as dist/testing/*.js never count as test files, whatever the pattern.
const pattern = new RegExp(process.argv[2] ?? "");
const isTestFile = (rel) => rel.endsWith(".test.js") && pattern.test(rel);
const limitMs = Number(process.env.FLOX_TEST_TIMEOUT_MS ?? 30 * 60 * 1000);
const jobs = Math.max(1, Number(process.env.FLOX_TEST_JOBS ?? 2));
// FLOX_TEST_NIX=2.26: the tests, and every server, builder and client they start, run the Nix that
// `npm run setup -- --modern-nix` put in .cache/nix-2.26/bin (through FLOX_NIX_BIN and PATH); unset, the host's.
// FLOX_TEST_CLIENT_NIX=V: only the client side (testing/fresh-nix, testing/nix-store) runs V, for mixed pairs.
// A version is found as .cache/nix-V/bin, else as the host's Nix when that is version V.
function nixDirFor(version) {
  const prefix = join(root, ".cache", `nix-${version}`, "bin");
  if (existsSync(join(prefix, "nix-store"))) return prefix;
  try {
    const out = execFileSync("nix-store", ["--version"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    if (out.includes(`(Nix) ${version}.`)) {
      const path = execFileSync("sh", ["-c", "command -v nix-store"], { encoding: "utf8" }).trim();
      return dirname(realpathSync(path));
    }
  } catch {}
  process.stdout.write(
    `no Nix ${version}: neither ${prefix} nor the host's (npm run setup -- --modern-nix)\n\n0 passed, 1 failed\n`,
  );
  process.exit(1);
}
const nixEnv = {};
if (process.env.FLOX_TEST_NIX) {
  const dir = nixDirFor(process.env.FLOX_TEST_NIX);
  Object.assign(nixEnv, { FLOX_NIX_BIN: dir, PATH: `${dir}:${process.env.PATH ?? "/usr/bin:/bin"}` });
}
if (process.env.FLOX_TEST_CLIENT_NIX)
  nixEnv.FLOX_TEST_CLIENT_NIX_BIN = nixDirFor(process.env.FLOX_TEST_CLIENT_NIX);

function testFiles(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules") out.push(...testFiles(full));
    } else if (isTestFile(relative(join(root, "dist"), full))) out.push(full);
  }
  return out;
}

// The longest first, so that no long file starts last and runs alone: size stands in for length.
const files = testFiles(join(root, "dist")).sort((a, b) => statSync(b).size - statSync(a).size);
const totals = { total: 0, passed: 0, skipped: 0, failed: 0 };
const children = new Set();

function runFile(file) {
  const rel = relative(join(root, "dist"), file);
  const escaped = rel.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ["node_modules/uvu/bin.js", "dist", `^${escaped}$`, "-i", "node_modules"],
      {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, ...nixEnv, FORCE_COLOR: "0" },
      },
    );
    children.add(child);
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.stderr.on("data", (chunk) => {
      out += chunk;
    });
    child.on("exit", (code) => {
      children.delete(child);
      const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
      let failed = total - passed - skipped;
      if (code !== 0 && failed === 0) failed = 1; // a crash before uvu's summary still counts as a failure
      totals.total += total;
      totals.passed += passed;
      totals.skipped += skipped;
      totals.failed += failed;
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      process.stdout.write(`${out}${rel}: ${failed ? `${failed} failed` : "ok"} in ${secs} s\n\n`);
      resolve();
    });
  });
}

const started = Date.now();
const timer = setTimeout(() => {
  process.stdout.write(`\nthe suite ran over ${limitMs / 1000}s and was stopped\n`);
  totals.failed += Math.max(1, children.size);
  for (const child of children) child.kill("SIGKILL");
  finish();
}, limitMs);

let next = 0;
async function worker() {
  while (next < files.length) await runFile(files[next++]);
}

function finish() {
  clearTimeout(timer);
  const secs = Math.round((Date.now() - started) / 1000);
  process.stdout.write(`${files.length} test files, ${jobs} at a time, ${secs} s\n`);
  process.stdout.write(
    `\n${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ""}\n`,
  );
  process.exit(totals.failed === 0 && totals.passed > 0 ? 0 : 1);
}

await Promise.all(Array.from({ length: jobs }, worker));
finish();
