import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";

// In a process of its own: killChildren kills every child of the process that calls it, and this suite's
// process is shared with every other test file.
test("finds the caller's children in /proc and SIGKILLs them", async () => {
  const module = fileURLToPath(new URL("./kill-children.js", import.meta.url));
  const script = `
    import { spawn } from "node:child_process";
    const { childPids, killChildren } = await import(${JSON.stringify(module)});
    const child = spawn("sleep", ["60"], { stdio: "ignore" });
    const exited = new Promise((r) => child.once("exit", (_c, signal) => r(signal)));
    await new Promise((r) => setTimeout(r, 100));
    const before = (await childPids()).includes(child.pid);
    const killed = await killChildren();
    console.log(JSON.stringify({ before, killed, signal: await exited, after: (await childPids()).includes(child.pid) }));
  `;
  const r = await execa(process.execPath, ["--input-type=module", "-e", script]);
  assert.equal(JSON.parse(r.stdout), { before: true, killed: 1, signal: "SIGKILL", after: false });
});

test.run();
