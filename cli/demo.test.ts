// The demo is a user's first contact: it must really start a server and push through the gate.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compiledPath } from "../lib/project-root.js";

test("npm run demo -- --once pushes the sample repo and shows a refused push", async () => {
  const dir = mkdtempSync(join(tmpdir(), "flox-demo-test-"));
  try {
    const run = await execa(process.execPath, [compiledPath("cli/demo.ts"), "--once"], {
      env: { FLOX_DEMO_DIR: dir },
      all: true,
      reject: false,
      timeout: 120_000,
    });
    assert.is(run.exitCode, 0, run.all);
    assert.match(run.all ?? "", /remote: checked refs\/heads\/main: 6 packages evaluate/);
    assert.match(run.all ?? "", /remote: pkgs\/broken\/default\.nix:2: undefined variable 'greeting'/);
    assert.match(run.all ?? "", /! \[remote rejected\] broken -> broken/);
    assert.match(run.all ?? "", /git repo\s+http:\/\/127\.0\.0\.1:\d+\/demo\/nixexprs\.git/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
