// `flox agent …`, `watch`, `download`: the lazy /nix/store and its cache. Actions import their module on demand.
import type { Command } from "commander";
import { examples } from "./help.js";

export function registerAgent(program: Command): void {
  const agent = program
    .command("agent")
    .description("mount the Storehouse as a lazy, read-only /nix/store (FUSE) backed by a local cache")
    .option("--mount <dir>", "where to mount: /nix/store on a machine without Nix, else any directory")
    .option("--cache-dir <dir>", "the local cache: unpacked store paths and its index (index.sqlite)")
    .option("--cache-size <size>", "cache quota, e.g. 10G or 512M", "10G")
    .option("--negative-timeout <s>", "how long the kernel remembers a missing top-level name", "30")
    .option("--op-timeout <s>", "longest a filesystem call may wait for a fetch", "120")
    .option(
      "--request-timeout <s>",
      "longest wait for the server: uncached paths fail with EIO after it",
      "10",
    )
    .option(
      "--file-fetch-from <size>",
      "paths at least this big (uncompressed on the server) are fetched file by file as files are opened",
      "8M",
    )
    .option("--untuned", "no kernel caching options (for benchmarks)")
    .option(
      "--profiles-dir <dir>",
      "keep this machine's subscribed profiles as DIR/ORG/NAME (machine token), their closures pinned",
    )
    .option("--unpin-grace <s>", "how long an old generation's closure stays pinned after a switch", "600")
    .option(
      "--daemon-socket <path>",
      "also serve a unix socket relaying Nix daemon connections to the server's shared daemon (NIX_REMOTE=unix://PATH)",
    )
    .option("--daemon-token <token>", "the relay's token (default: --token)")
    .option("--daemon-org <name>", "the org relayed builds are for (default: the token's)")
    .action(async (_opts, cmd: Command) => {
      const o = cmd.opts();
      if (!o.mount || !o.cacheDir)
        cmd.error("error: --mount DIR and --cache-dir DIR are required", { exitCode: 2 });
      await (await import("../commands/agent.js")).agent(cmd);
    });
  const exec = agent
    .command("exec")
    .description("run a command in a private mount namespace whose /nix/store is the agent's mount (root)")
    .argument("<command...>", "the command and its arguments (after --)")
    .action(async (command: string[], _opts, cmd: Command) =>
      (await import("../commands/agent.js")).agentExec(cmd, command),
    );
  examples(exec, [
    "flox agent exec --mount /tmp/flox-store -- /nix/store/…-hello/bin/hello",
    "flox agent exec --mount /tmp/flox-store -- sh -c 'ls /nix/store'",
  ]);
  const loadStatus = () => import("../commands/agent-status.js");
  const status = agent
    .command("status")
    .description("the running agent's status once: fetches in flight, cache figures, profiles, pins")
    .option("--socket <path>", "the agent's status socket (default CACHE_DIR/agent.sock)")
    .action(async (_opts, cmd: Command) => (await loadStatus()).agentStatus(cmd));
  examples(status, [
    "flox agent status --cache-dir /var/cache/flox",
    "flox agent status --cache-dir /var/cache/flox --json",
  ]);
  const watch = program
    .command("watch")
    .description("live progress bars of the agent's fetches in flight, and its cache figures")
    .option("--cache-dir <dir>", "the agent's cache dir (its socket is CACHE_DIR/agent.sock)")
    .option("--socket <path>", "the agent's status socket")
    .option("--interval <ms>", "refresh every this many milliseconds", "500")
    .option("--count <n>", "stop after this many refreshes")
    .action(async (opts, cmd: Command) => (await loadStatus()).watch(cmd, opts));
  examples(watch, [
    "flox watch --cache-dir /var/cache/flox",
    "flox watch --cache-dir /var/cache/flox --count 1 | cat",
  ]);
  const download = program
    .command("download")
    .description(
      "fetch the whole closure of a profile's live generation into the agent's cache now, pinned (offline use)",
    )
    .argument("<profile>", "ORG/NAME, a profile the agent keeps (flox agent --profiles-dir)")
    .option("--cache-dir <dir>", "the agent's cache dir (its socket is CACHE_DIR/agent.sock)")
    .option("--socket <path>", "the agent's status socket")
    .action(async (profile: string, _opts, cmd: Command) => (await loadStatus()).download(cmd, profile));
  examples(download, ["flox download acme/dev --cache-dir /var/cache/flox"]);
  agent.addHelpText(
    "after",
    `
Needs --server URL (and --token T when the cache is private), or FLOX_SERVER/FLOX_TOKEN. Runs until
SIGTERM/SIGINT, then unmounts. Status (ops, fetches, cache figures) as JSON: GET /status on the unix
socket CACHE_DIR/agent.sock, e.g. curl --unix-socket CACHE_DIR/agent.sock http://agent/status, or
flox agent status --cache-dir DIR [--json]; flox watch --cache-dir DIR shows fetches as live progress bars.
With --profiles-dir DIR and a machine token it keeps the subscribed profiles as DIR/ORG/NAME (as flox sync
does), pins each live generation's closure (fetched lazily; flox download ORG/NAME fetches it all now) and
unpins the one before after --unpin-grace seconds.

Examples:
  flox agent --server http://flox.internal:8080 --mount /nix/store --cache-dir /var/cache/flox --cache-size 20G
  flox agent --server http://127.0.0.1:8080 --mount /tmp/flox-store --cache-dir /tmp/flox-cache &
  flox agent exec --mount /tmp/flox-store -- /nix/store/…-hello/bin/hello
  FLOX_TOKEN=<machine token> flox agent --mount /nix/store --cache-dir /var/cache/flox --profiles-dir /var/lib/flox/profiles
`,
  );
}
