// End to end: a stock Nix client on a brand-new machine (a fresh /nix whose store is only the agent's FUSE mount)
// builds an expression that is in no repo through `flox agent --daemon-socket` → `GET /nix-daemon` → the shared
// nix-daemon → flox's build hook → the farm's queue → a real `flox builder`, then runs the result through the mount.
import { mkdtemp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runFlox } from "../../testing/ci-harness.js";
import {
  helloExpression,
  type RelayWorld,
  runRelayClient,
  startRelayWorld,
} from "../../testing/relay-world.js";

let w: RelayWorld;

test.before(async () => {
  w = await startRelayWorld("flox-relay-");
});
test.after(async () => {
  await w?.stop();
});

const client = async (name: string, script: string, env: Record<string, string> = {}) =>
  runRelayClient(w, { dir: await mkdtemp(join(w.tmp, `client-${name}-`)), script, env });

test("a stock client with only the agent's mount builds on the farm through the relay and runs the result", async () => {
  const expr = join(w.tmp, "hello.nix");
  await writeFile(expr, helloExpression(w.busybox, "relay-hello-1"));
  const r = await client(
    "hello",
    `out=$(nix-build --no-out-link ${expr}) && echo "OUT=$out" && "$out/bin/hello"`,
  );
  assert.is(
    r.exitCode,
    0,
    `${r.stdout}\n${r.stderr}\n--- server\n${w.srv.stderr()}\n--- builder\n${w.builder.log()}`,
  );
  assert.match(r.stdout, /hello from relay-hello-1/);
  const out = /OUT=(\S+)/.exec(r.stdout)?.[1] ?? "";
  // The build ran on the builder, and shows as wanted by the relay's user.
  const builds = await runFlox(w.srv.url, w.member, w.tmp, ["builds", "--json"]);
  const list = JSON.parse(builds.stdout).builds as {
    outputs: Record<string, string>;
    builder: string;
    relay: { actor: string }[];
    state: string;
  }[];
  const mine = list.find((b) => b.outputs.out === out);
  assert.ok(mine, `no build with output ${out}: ${builds.stdout}`);
  assert.is(mine?.builder, "b1");
  assert.is(mine?.state, "succeeded");
  assert.is(mine?.relay[0]?.actor, "alice-laptop");
});

test.run();
