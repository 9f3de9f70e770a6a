// The demo is a user's first contact: it must really start a server and push through the gate.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { compiledPath } from "../lib/project-root.js";

test("npm run demo -- --once pushes the sample repo, builds it on a builder, and shows a refused push", async () => {
  const dir = mkdtempSync(join(tmpdir(), "flox-demo-test-"));
  try {
    const run = await execa(process.execPath, [compiledPath("cli/demo.ts"), "--once"], {
      env: { FLOX_DEMO_DIR: dir },
      all: true,
      reject: false,
      timeout: 300_000,
    });
    assert.is(run.exitCode, 0, run.all);
    assert.match(run.all ?? "", /remote: checked refs\/heads\/main: 6 packages evaluate/);
    assert.match(run.all ?? "", /remote: pkgs\/broken\/default\.nix:2: undefined variable 'greeting'/);
    assert.match(run.all ?? "", /! \[remote rejected\] broken -> broken/);
    // The newcomer's path: flox init --org, a package from a template, checked, built here, pushed and built.
    assert.match(run.all ?? "", /created pkgs\/greet from the shell template/);
    assert.match(run.all ?? "", /ok: 7 packages evaluate/);
    assert.match(run.all ?? "", /built greet-0\.1\.0/);
    assert.match(run.all ?? "", /remote: CI passed: demo\/main at [0-9a-f]{7}: all 7 builds succeeded/);
    // The defaults are safe: a GC dry run right after the first builds frees nothing that is in use.
    assert.match(run.all ?? "", /dry run: would free \S+ \S+ in \d+ paths of/);
    assert.match(run.all ?? "", /roots: \d+ evaluation, \d+ channel, \d+ profile/);
    assert.match(run.all ?? "", /git repo\s+http:\/\/127\.0\.0\.1:\d+\/demo\/nixexprs\.git/);
    assert.match(
      run.all ?? "",
      /remote: evaluation #1 of demo\/main at [0-9a-f]{7}: 6 jobs, 6 to build, 0 already built/,
    );
    // The builds table `flox builds --org demo` printed: every sample package built by the demo's builder.
    for (const pkg of ["greeting", "hello", "hello-lib", "shout", "toolbox", "wordcount"]) {
      assert.match(
        run.all ?? "",
        new RegExp(`#\\d+\\s+succeeded\\s+\\S+\\s+demo/main#${pkg}\\s+demo-builder`),
      );
    }
    if (process.getuid?.() === 0 && existsSync("/dev/fuse")) {
      // The lazy store: looking at hello fetched no NAR (its signed listing answers); running it fetched hello
      // and its one reference, nothing else of the Storehouse.
      assert.match(
        run.all ?? "",
        /\$ ls -l \/nix\/store\/[0-9a-z]{32}-hello\/bin\n[\s\S]*?hello\n\s+\(0 NARs, 0 bytes/,
      );
      assert.match(
        run.all ?? "",
        /Hello, world!\n\s+\(2 NARs, [0-9]+ bytes fetched so far\)\n\s+cached now \(ls .*\): ([0-9a-z]{32}-(busybox-static|hello)(, )?){2}\n/,
      );
      // The shared daemon: a stock nix-build through the agent's relay, built by the demo's builder, run from
      // the mount, and listed as wanted by the relay's user.
      assert.match(run.all ?? "", /built by the farm for the relay/);
      assert.match(run.all ?? "", /hello through the shared daemon/);
      assert.match(
        run.all ?? "",
        /#\d+\s+succeeded\s+relay-demo\s+demo: relay by demo-pusher\s+demo-builder/,
      );
    } else {
      assert.match(run.all ?? "", /skipped: the agent needs root and \/dev\/fuse/);
    }
    assert.match(run.all ?? "", /channel demo: evaluation #1 at [0-9a-f]{7}/);
    assert.match(
      run.all ?? "",
      /demo\/dev: generation 1 \(\+hello \+wordcount\) is live\n\s+\/nix\/store\/[0-9a-z]{32}-user-environment/,
    );
    assert.match(
      run.all ?? "",
      /binary cache\s+http:\/\/127\.0\.0\.1:\d+\/cache\s+\(trusted-public-keys = flox-/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
