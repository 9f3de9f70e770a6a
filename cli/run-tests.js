// Runs the whole uvu suite from dist/ and ends with the line CI reads: "N passed, N failed".
// Plain JS so that it runs before and without the TypeScript build.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const pattern = process.argv[2] ?? "\\.test\\.js$";
const limitMs = Number(process.env.FLOX_TEST_TIMEOUT_MS ?? 14 * 60 * 1000);

const child = spawn(process.execPath, ["node_modules/uvu/bin.js", "dist", pattern, "-i", "node_modules"], {
  cwd: root,
  stdio: ["ignore", "pipe", "inherit"],
  env: { ...process.env, FORCE_COLOR: "0" },
});
let out = "";
child.stdout.on("data", (chunk) => {
  out += chunk;
  process.stdout.write(chunk);
});
const timer = setTimeout(() => {
  process.stdout.write(`\nthe suite ran over ${limitMs / 1000}s and was stopped\n`);
  child.kill("SIGKILL");
}, limitMs);
child.on("exit", (code) => {
  clearTimeout(timer);
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
  let failed = total - passed - skipped;
  if (code !== 0 && failed === 0) failed = 1; // a crash before uvu's summary still counts as a failure
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}\n`);
  process.exit(code === 0 && failed === 0 ? 0 : 1);
});
