// Registers every subcommand. Each action imports its implementation on demand, so that defining the
// whole tree costs only commander: `flox --version` and `--help` never load zod or the API client.
import { type Command, Option } from "commander";
import { roles } from "../../lib/api/enums.js";

/** Appends an "Examples:" section to a command's --help. */
function examples(cmd: Command, lines: string[]): Command {
  return cmd.addHelpText("after", `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}\n`);
}

export function registerCommands(program: Command): void {
  registerServer(program);
  registerLocal(program);
  registerAuth(program);
  registerOrg(program);
  registerUser(program);
  registerToken(program);
  registerPushes(program);
  registerCi(program);
  registerBuilds(program);
  registerChannels(program);
  registerProfiles(program);
  registerBuilder(program);
  registerMachines(program);
  registerAgent(program);
}

function registerServer(program: Command): void {
  const server = program
    .command("server")
    .description("run the flox server (git hosting, API, Storehouse)")
    .requiredOption("--data-dir <dir>", "where everything is kept (db.sqlite, repos/, store/, keys/, logs/)")
    .option("--listen <host:port>", "address to listen on; port 0 picks a free port", "127.0.0.1:8080")
    .option("--admin-token <token>", "first admin token (default: $FLOX_ADMIN_TOKEN, else one is generated)")
    .option("--base <path>", "use this nixpkgs tree as the base package set instead of the bootstrap set")
    .option("--max-file-size <bytes>", "largest file a push may contain", "10485760")
    .option(
      "--max-repo-files <n>",
      "most files a pushed tree may hold (default: $FLOX_MAX_REPO_FILES, else 20000)",
    )
    .option(
      "--max-repo-size <bytes>",
      "most bytes of files a pushed tree may hold, e.g. 100M (default: $FLOX_MAX_REPO_SIZE, else 100M)",
    )
    .option(
      "--eval-memory <bytes>",
      "address space each Nix evaluation may use, e.g. 2G (default: $FLOX_EVAL_MEMORY, else 2G)",
    )
    .option("--private-cache", "reading the binary cache (/cache) needs a token too (default: public reads)")
    .option(
      "--nar-sweep-every <s>",
      "seconds between sweeps of NAR files no accepted narinfo names (default 600)",
    )
    .option(
      "--nar-sweep-grace <s>",
      "an orphaned NAR or temp file younger than this is left alone: an upload in flight (default 3600)",
    )
    .option("--nar-verify-every <s>", "seconds between runs of the NAR files' re-hash check (default 3600)")
    .option(
      "--nar-verify-budget <bytes>",
      "bytes of NAR files one run of the check reads, never-checked and longest-unchecked first (default 1 GiB)",
    )
    .action(async (opts) => {
      const { runServerCommand } = await import("../../server/serve.js");
      await runServerCommand(opts);
    });
  examples(server, [
    "flox server --data-dir /var/lib/flox --listen 0.0.0.0:8080",
    "FLOX_ADMIN_TOKEN=secret flox server --data-dir ./data --listen 127.0.0.1:0",
  ]);
}

function registerLocal(program: Command): void {
  const init = program
    .command("init")
    .description("clone an org's nixexprs repo (--org), or start a package in this checkout from a template")
    .option(
      "--org <org>",
      "in an empty directory: clone ORG's nixexprs repo here (creating the org if the token may)",
    )
    .option("--name <name>", "the package's name: its directory pkgs/NAME")
    .option(
      "--template <id>",
      "shell, data, c-make, python, node or binary (default: what the sources look like)",
    )
    // `flox init --version X` reaches this option too: see routeInitVersion in program.ts.
    .option("--pkg-version <version>", "the package's version (default 0.1.0); --version works too")
    .option("--description <text>", "a one-line description (meta.description)")
    .option("--license <name>", "a nixpkgs lib.licenses name: mit, asl20, bsd3, gpl3Plus, … (default mit)")
    .option(
      "--src <source>",
      "a directory (copied to pkgs/NAME/src unless it is inside it), an http(s) URL, or a git repo (git+URL, or a URL ending in .git)",
    )
    .option("--git-ref <ref>", "with a git --src: the branch, tag or commit (default: its HEAD)")
    .option("-y, --yes", "ask nothing: take the flags and the defaults")
    .action(async (opts, cmd: Command) => (await import("./init.js")).init(cmd, opts));
  init.addHelpText(
    "after",
    `
Inside a checkout it asks (on a terminal) for each answer not given as a flag; with --yes, or
without a terminal, it takes the defaults. URL and git sources are fetched at once to write their
sha256 into the package. Templates shell, data and binary build with the bootstrap base set;
c-make, python and node need nixpkgs as the server's base set (flox server --base).

Examples:
  mkdir acme && cd acme && flox init --org acme
  flox init
  flox init --name hello --template shell --yes
  flox init --name mytool --src ./vendor/mytool --description "our tool" --yes
  flox init --name data-set --template data --src https://example.org/data-1.0.tar.gz --yes
`,
  );

  const check = program
    .command("check")
    .description("run the push gate's checks (layout, parse, evaluation) on this checkout's work tree")
    .option(
      "--base <path>",
      "a nixpkgs tree as the base set, as `flox server --base` (default: the server's, else the bootstrap set)",
    )
    .option(
      "--max-file-size <bytes>",
      "largest file a push may contain, as the server's --max-file-size",
      "10485760",
    )
    .action(async (opts, cmd: Command) => (await import("./check.js")).check(cmd, opts));
  check.addHelpText(
    "after",
    `
The same code as the server's pre-receive hook (hooks/gate.ts), over the work tree as \`git add -A\`
would see it (untracked files too, ignored ones not), without touching your index. Prints the
problems as the push would (path:line: message (hint)) and exits 1 when there are any.

Examples:
  flox check
  flox check --json
  flox check --base ~/src/nixpkgs
`,
  );
}

function registerAuth(program: Command): void {
  const login = program
    .command("login")
    .description("check a server URL and token, and save both for later commands")
    .argument("<url>", "the flox server, e.g. http://127.0.0.1:8080")
    .action(async (url: string, _opts, cmd: Command) => (await import("./auth.js")).login(cmd, url));
  login.addHelpText(
    "after",
    `
The token comes from --token, else $FLOX_TOKEN, else a prompt (or the first line of stdin when it
is not a terminal). It is saved with the URL in $XDG_CONFIG_HOME/flox/config.json (mode 0600).

Examples:
  flox login http://127.0.0.1:8080                 prompts for the token
  flox login http://flox.internal --token flox_…
  echo "$TOKEN" | flox login http://flox.internal
`,
  );

  const logout = program
    .command("logout")
    .description("forget the server and token saved by `flox login`")
    .action(async (_opts, cmd: Command) => (await import("./auth.js")).logout(cmd));
  examples(logout, ["flox logout"]);

  const whoami = program
    .command("whoami")
    .description("show which server and token the next command would use, and what the token may do")
    .action(async (_opts, cmd: Command) => (await import("./auth.js")).whoami(cmd));
  examples(whoami, ["flox whoami", "flox whoami --json", "FLOX_TOKEN=flox_… flox whoami"]);
}

function registerOrg(program: Command): void {
  const org = program
    .command("org")
    .description("create and inspect orgs (one git repo each) and their members");
  examples(org, ["flox org create acme", "flox org list", "flox org member add acme alice --role member"]);

  const create = org
    .command("create")
    .description("create an org and its empty git repo (admin)")
    .argument("<name>", "org name: a-z, 0-9 and '-', up to 39 characters")
    .option("--display-name <text>", "a human-friendly name, shown in lists")
    .option("--public", "anyone may read its CI pages, badges, channels and build logs (default: private)")
    .action(async (name: string, _opts, cmd: Command) => (await import("./org.js")).createOrg(cmd, name));
  examples(create, [
    "flox org create acme",
    'flox org create acme --display-name "Acme Corp"',
    "flox org create oss --public",
  ]);

  const set = org
    .command("set")
    .description("make an org public or private (admin or org owner)")
    .argument("<name>", "org name")
    .option("--public", "anyone may read its CI pages, badges, channels and build logs, without a token")
    .option("--private", "only tokens with a role in the org see it; to anyone else it does not exist")
    .action(async (name: string, _opts, cmd: Command) => (await import("./org.js")).setOrg(cmd, name));
  examples(set, ["flox org set oss --public", "flox org set acme --private"]);

  const list = org
    .command("list")
    .description("list the orgs this token may read, and the public ones")
    .action(async (_opts, cmd: Command) => (await import("./org.js")).listOrgs(cmd));
  examples(list, ["flox org list", "flox org list --json"]);

  const show = org
    .command("show")
    .description("show an org and its repo URL")
    .argument("<name>", "org name")
    .action(async (name: string, _opts, cmd: Command) => (await import("./org.js")).showOrg(cmd, name));
  examples(show, ["flox org show acme"]);

  const member = org.command("member").description("manage who belongs to an org, and with which role");
  examples(member, ["flox org member add acme alice --role owner", "flox org member list acme"]);

  const add = member
    .command("add")
    .description("add a user to an org, or change their role there (admin or org owner)")
    .argument("<org>", "org name")
    .argument("<user>", "user name (create it first with `flox user create`)")
    .addOption(new Option("--role <role>", "owner, member or reader").choices(roles).makeOptionMandatory())
    .action(async (orgName: string, user: string, _opts, cmd: Command) =>
      (await import("./org.js")).addMember(cmd, orgName, user),
    );
  add.addHelpText(
    "after",
    `
Roles: owner (manage members and tokens, push), member (push, fetch), reader (fetch).

Examples:
  flox org member add acme alice --role member
  flox org member add acme alice --role owner      changes alice's role
`,
  );

  const memberList = member
    .command("list")
    .description("list an org's members and their roles")
    .argument("<org>", "org name")
    .action(async (orgName: string, _opts, cmd: Command) =>
      (await import("./org.js")).listMembers(cmd, orgName),
    );
  examples(memberList, ["flox org member list acme", "flox org member list acme --json"]);

  const remove = member
    .command("remove")
    .description("remove a user from an org (admin or org owner)")
    .argument("<org>", "org name")
    .argument("<user>", "user name")
    .action(async (orgName: string, user: string, _opts, cmd: Command) =>
      (await import("./org.js")).removeMember(cmd, orgName, user),
    );
  examples(remove, ["flox org member remove acme alice"]);
}

function registerUser(program: Command): void {
  const user = program.command("user").description("create and list users (admin)");
  examples(user, ["flox user create alice", "flox user list"]);

  const create = user
    .command("create")
    .description("create a user; add them to orgs with `flox org member add`")
    .argument("<name>", "user name: a-z, 0-9 and '-', up to 39 characters")
    .action(async (name: string, _opts, cmd: Command) => (await import("./user.js")).createUser(cmd, name));
  examples(create, ["flox user create alice", "flox token create --user alice --name laptop"]);

  const list = user
    .command("list")
    .description("list all users")
    .action(async (_opts, cmd: Command) => (await import("./user.js")).listUsers(cmd));
  examples(list, ["flox user list", "flox user list --json"]);
}

function registerToken(program: Command): void {
  const token = program.command("token").description("create, list and revoke API and git tokens");
  examples(token, [
    "flox token create --org acme --role member --name ci",
    "flox token list",
    "flox token revoke 7",
  ]);

  const create = token
    .command("create")
    .description("create a token; its secret is printed once and never again")
    .option("--org <org>", "a token for one org (needs --role)")
    .addOption(new Option("--role <role>", "the --org token's role: owner, member or reader").choices(roles))
    .addOption(new Option("--admin", "a token that may do everything").conflicts(["org", "role", "user"]))
    .addOption(
      new Option("--builder", "a token for a build agent (`flox builder`)").conflicts([
        "org",
        "role",
        "user",
      ]),
    )
    .addOption(
      new Option(
        "--machine",
        "a token for a machine of --org ORG (flox machine register, flox sync)",
      ).conflicts(["role", "user"]),
    )
    .addOption(
      new Option("--user <user>", "a token that acts as this user, with their org roles").conflicts("org"),
    )
    .option("--name <label>", 'a label to tell tokens apart, e.g. "ci" or "alice laptop"')
    .action(async (_opts, cmd: Command) => (await import("./token.js")).createToken(cmd));
  create.addHelpText(
    "after",
    `
Give exactly one of: --org ORG --role ROLE, --admin, --builder, --machine --org ORG, --user USER.
Org owners may create org and machine tokens for their own org; everything else needs an admin token.

Examples:
  flox token create --org acme --role member --name ci
  flox token create --org acme --role reader
  flox token create --user alice --name "alice laptop"
  flox token create --builder --name builder-1
  flox token create --machine --org acme --name web-1
  flox token create --admin --json
`,
  );

  const list = token
    .command("list")
    .description("list tokens (admin: all; org owner: the org's); secrets are never shown again")
    .action(async (_opts, cmd: Command) => (await import("./token.js")).listTokens(cmd));
  examples(list, ["flox token list", "flox token list --json"]);

  const revoke = token
    .command("revoke")
    .description("revoke a token at once: git and API requests with it fail from now on")
    .argument("<id>", "the token's id, from `flox token list`")
    .action(async (id: string, _opts, cmd: Command) => (await import("./token.js")).revokeToken(cmd, id));
  examples(revoke, ["flox token revoke 7"]);
}

function registerPushes(program: Command): void {
  const pushes = program
    .command("pushes")
    .description("list the pushes an org's repo received, newest first")
    .argument("<org>", "org name")
    .action(async (org: string, _opts, cmd: Command) => (await import("./pushes.js")).listPushes(cmd, org));
  examples(pushes, ["flox pushes acme", "flox pushes acme --json"]);
}

function registerCi(program: Command): void {
  const jobsets = program
    .command("jobsets")
    .description("list an org's jobsets (one per pushed branch) with their latest evaluation")
    .argument("<org>", "org name")
    .action(async (org: string, _opts, cmd: Command) => (await import("./ci.js")).listJobsets(cmd, org));
  examples(jobsets, ["flox jobsets acme", "flox jobsets acme --json"]);

  const evals = program
    .command("evals")
    .description("list the evaluations of a jobset, newest first")
    .argument("<org/branch>", "the jobset, e.g. acme/main")
    .action(async (spec: string, _opts, cmd: Command) =>
      (await import("./ci.js")).listEvaluations(cmd, spec),
    );
  examples(evals, ["flox evals acme/main", "flox evals acme/feature/x --json"]);

  const show = program
    .command("eval")
    .description("show an evaluation: its jobs with their build state, problems, and what changed")
    .argument("<id>", "the evaluation's number, e.g. 12 (as the push printed it)")
    .action(async (id: string, _opts, cmd: Command) => (await import("./ci.js")).showEvaluation(cmd, id));
  examples(show, ["flox eval 12", "flox eval 12 --json"]);
}

function registerBuilder(program: Command): void {
  const builder = program
    .command("builder")
    .description(
      "run a build agent: claim builds from the server, build them in a chroot store, upload the outputs",
    )
    .requiredOption("--store <dir>", "this builder's own chroot Nix store (created if missing)")
    .requiredOption("--systems <list>", "comma-separated systems it builds for, e.g. x86_64-linux")
    .option("--features <list>", "comma-separated system features it offers, e.g. kvm,big-parallel")
    .option("--max-jobs <n>", "builds run side by side", "1")
    .option("--name <name>", "how the server lists this builder (default: HOST-PID)")
    .option(
      "--allow-host-store",
      "accept a --store that is the host's own (/, /nix) or inside a flox server's data dir (refused otherwise)",
    )
    .action(async (_opts, cmd: Command) => (await import("./builder.js")).builder(cmd));
  builder.addHelpText(
    "after",
    `
Needs --server URL and --token T (a builder token: flox token create --builder), or FLOX_SERVER and
FLOX_TOKEN. Runs until SIGTERM/SIGINT; builds it was running go back to the queue. Exits 1 when the server
refuses the token. --store must be the builder's own: /, the host's /nix/store and a flox server's data dir are
refused unless --allow-host-store is given.

Examples:
  flox builder --server http://ci.internal:8080 --token flox_… --store /var/lib/flox-builder --systems x86_64-linux
  flox builder --store ./b1 --systems x86_64-linux --features kvm --max-jobs 4 --name b1
`,
  );
}

function registerAgent(program: Command): void {
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
    .action(async (_opts, cmd: Command) => {
      const o = cmd.opts();
      if (!o.mount || !o.cacheDir)
        cmd.error("error: --mount DIR and --cache-dir DIR are required", { exitCode: 2 });
      await (await import("./agent.js")).agent(cmd);
    });
  const exec = agent
    .command("exec")
    .description("run a command in a private mount namespace whose /nix/store is the agent's mount (root)")
    .argument("<command...>", "the command and its arguments (after --)")
    .action(async (command: string[], _opts, cmd: Command) =>
      (await import("./agent.js")).agentExec(cmd, command),
    );
  examples(exec, [
    "flox agent exec --mount /tmp/flox-store -- /nix/store/…-hello/bin/hello",
    "flox agent exec --mount /tmp/flox-store -- sh -c 'ls /nix/store'",
  ]);
  const loadStatus = () => import("./agent-status.js");
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

function registerBuilds(program: Command): void {
  const load = () => import("./builds.js");
  const builds = program
    .command("builds")
    .description("list builds, newest first (those of the orgs this token may read)")
    .option("--state <state>", "only builds in this state, e.g. running, queued, failed")
    .option("--org <org>", "only builds an org's evaluations want")
    .option("--limit <n>", "at most this many (default 100)")
    .action(async (opts, cmd: Command) => (await load()).listBuilds(cmd, opts));
  examples(builds, ["flox builds --state running", "flox builds --org acme --state failed --json"]);

  const build = program
    .command("build")
    .description(
      "build package NAME of this checkout here (or --remote on the server's builders); with a number, show that build",
    )
    .argument("<name-or-id>", "a package name (pkgs/NAME), or a build's number as `flox builds` lists it")
    .option(
      "--remote",
      "build on the server's builders: the work tree is pushed to branch flox-build/NAME -o wait",
    )
    .option("--git-remote <name>", "the git remote --remote pushes to", "origin")
    .option(
      "--base <path>",
      "a nixpkgs tree as the base set, as `flox server --base` (default: the server's, else the bootstrap set)",
    )
    .action(async (spec: string, opts, cmd: Command) => {
      // A number is a build's id (as before packages could be built here); `pkgs/123` builds a package named 123.
      if (/^#?[0-9]+$/.test(spec)) return (await load()).showBuild(cmd, spec);
      return (await import("./build-local.js")).buildLocal(cmd, spec, opts);
    });
  build.addHelpText(
    "after",
    `
flox build NAME builds pkgs/NAME of the work tree (committed or not, as \`git add -A\` would see it)
in a chroot Nix store under the checkout's .flox/, with the same evaluation as the server, so the
.drv and output paths are the ones the server's builders make. The build log goes to stderr.
flox build N (a number) shows build N of the server, as it always did; a package whose name is a
number is built with flox build pkgs/N.

Examples:
  flox build hello
  flox build hello --remote
  flox build hello --base ~/src/nixpkgs
  flox build 17
  flox build 17 --json
`,
  );

  const log = program
    .command("log")
    .description("print a build's log; --follow streams it until the build finished")
    .argument("<id>", "the build's number")
    .option("-f, --follow", "keep printing new output until the build finished; exit 1 unless it succeeded")
    .action(async (id: string, opts, cmd: Command) => (await load()).showLog(cmd, id, opts));
  examples(log, ["flox log 17", "flox log 17 --follow"]);

  const cancel = program
    .command("cancel")
    .description("cancel a queued or running build, or with --eval every such build of an evaluation")
    .argument("<id>", "a build number, or an evaluation number with --eval")
    .option("--eval", "the number is an evaluation's")
    .action(async (id: string, opts, cmd: Command) => (await load()).cancel(cmd, id, opts));
  examples(cancel, ["flox cancel 17", "flox cancel --eval 4"]);

  const restart = program
    .command("restart")
    .description(
      "requeue a build that ended without success (and what was waiting for it), or with --eval every such build of an evaluation",
    )
    .argument("<id>", "a build number, or an evaluation number with --eval")
    .option("--eval", "the number is an evaluation's")
    .action(async (id: string, opts, cmd: Command) => (await load()).restart(cmd, id, opts));
  examples(restart, ["flox restart 17", "flox restart --eval 4"]);

  const bump = program
    .command("bump")
    .description("move a queued build ahead of everything queued now (or set its priority)")
    .argument("<id>", "the build's number")
    .option("--priority <n>", "set this priority instead (higher runs first; the default is 0)")
    .action(async (id: string, opts, cmd: Command) => (await load()).bump(cmd, id, opts));
  examples(bump, ["flox bump 17", "flox bump 17 --priority -5"]);

  const builders = program
    .command("builders")
    .description("the builders that called in: connected or not, systems, what each runs now")
    .action(async (_opts, cmd: Command) => (await load()).listBuilders(cmd));
  examples(builders, ["flox builders", "flox builders --json"]);
}

function registerChannels(program: Command): void {
  const load = () => import("./channels.js");
  const channels = program
    .command("channels")
    .description("list the channels (one per jobset) and where each points")
    .action(async (_opts, cmd: Command) => (await load()).listChannels(cmd));
  examples(channels, ["flox channels", "flox channels --json"]);

  const channel = program
    .command("channel")
    .description("show a channel, its history, or pin it to an evaluation")
    .addHelpText(
      "after",
      `
A channel is named ORG (the org's main branch) or ORG/BRANCH. It follows the branch's newest green
evaluation (every job built; or, with [channel] gate = [...] in flox.toml, the named jobs).
Use it from any Nix: nix-channel --add http://HOST/channels/ORG ORG && nix-channel --update

Examples:
  flox channel show acme
  flox channel history acme/staging
  flox channel pin acme --eval 12
`,
    );
  const show = channel
    .command("show")
    .description("where the channel points, its URL, and the packages it publishes")
    .argument("<channel>", "ORG or ORG/BRANCH")
    .action(async (name: string, _opts, cmd: Command) => (await load()).showChannel(cmd, name));
  examples(show, ["flox channel show acme", "flox channel show acme/staging --json"]);
  const history = channel
    .command("history")
    .description("every point the channel was at, oldest first: evaluation, commit, CI or who pinned it")
    .argument("<channel>", "ORG or ORG/BRANCH")
    .action(async (name: string, _opts, cmd: Command) => (await load()).channelHistory(cmd, name));
  examples(history, ["flox channel history acme"]);
  const pin = channel
    .command("pin")
    .description("point the channel at an evaluation (e.g. an earlier one) and keep it there")
    .argument("<channel>", "ORG or ORG/BRANCH")
    .requiredOption("--eval <n>", "the evaluation to publish (its jobs must be built)")
    .action(async (name: string, opts, cmd: Command) => (await load()).pinChannel(cmd, name, opts));
  examples(pin, ["flox channel pin acme --eval 12"]);
  const unpin = channel
    .command("unpin")
    .description("let the channel follow new green evaluations again")
    .argument("<channel>", "ORG or ORG/BRANCH")
    .action(async (name: string, _opts, cmd: Command) => (await load()).unpinChannel(cmd, name));
  examples(unpin, ["flox channel unpin acme"]);
}

function registerProfiles(program: Command): void {
  const load = () => import("./profiles.js");
  const profile = program
    .command("profile")
    .description("named package sets of an org, rolled out as numbered generations")
    .addHelpText(
      "after",
      `
A profile is ORG/NAME. Entries follow a channel attribute (CHANNEL#attr: upgrades move them) or pin a
store path. Each change makes a generation: a Nix user environment in the Storehouse, the same store
path on every machine. Every change is recorded with its author, host, command and --reason.

Examples:
  flox profile create acme/dev
  flox profile install acme/dev acme#hello acme#wordcount
  flox profile generations acme/dev
`,
    );
  const reason = ["--reason <text>", "why, kept with the change"] as const;
  const create = profile
    .command("create")
    .description("make an empty profile")
    .argument("<profile>", "ORG/NAME")
    .option(...reason)
    .action(async (spec: string, opts, cmd: Command) => (await load()).createProfile(cmd, spec, opts));
  examples(create, ["flox profile create acme/dev --reason 'developer tools'"]);
  const list = profile
    .command("list")
    .description("the profiles of the orgs this token may read")
    .action(async (_opts, cmd: Command) => (await load()).listProfiles(cmd));
  examples(list, ["flox profile list", "flox profile list --json"]);
  const show = profile
    .command("show")
    .description("the live generation: its store path and entries")
    .argument("<profile>", "ORG/NAME")
    .action(async (spec: string, _opts, cmd: Command) => (await load()).showProfile(cmd, spec));
  examples(show, ["flox profile show acme/dev"]);
  const install = profile
    .command("install")
    .description("add packages (or replace entries of the same name); makes a generation")
    .argument("<profile>", "ORG/NAME")
    .argument("<refs...>", "CHANNEL#attr to follow (acme#hello, acme/staging#hello) or /nix/store/… to pin")
    .option("--priority <n>", "lower wins a file two entries provide (default 5)")
    .option(...reason)
    .action(async (spec: string, refs: string[], opts, cmd: Command) =>
      (await load()).install(cmd, spec, refs, opts),
    );
  examples(install, [
    "flox profile install acme/dev acme#hello",
    "flox profile install acme/dev /nix/store/…-tool --priority 4",
  ]);
  const remove = profile
    .command("remove")
    .description("drop entries by name; makes a generation")
    .argument("<profile>", "ORG/NAME")
    .argument("<entries...>", "entry names as `flox profile show` lists them")
    .option(...reason)
    .action(async (spec: string, labels: string[], opts, cmd: Command) =>
      (await load()).remove(cmd, spec, labels, opts),
    );
  examples(remove, ["flox profile remove acme/dev hello"]);
  const upgrade = profile
    .command("upgrade")
    .description("re-resolve followed entries now; a generation only when something moved")
    .argument("<profile>", "ORG/NAME")
    .option(...reason)
    .action(async (spec: string, opts, cmd: Command) => (await load()).upgrade(cmd, spec, opts));
  examples(upgrade, ["flox profile upgrade acme/dev"]);
  const rollback = profile
    .command("rollback")
    .description("make the previous generation live again (or --to N), as nix-env --rollback does")
    .argument("<profile>", "ORG/NAME")
    .option("--to <n>", "the generation to make live")
    .option(...reason)
    .action(async (spec: string, opts, cmd: Command) => (await load()).rollback(cmd, spec, opts));
  examples(rollback, ["flox profile rollback acme/dev", "flox profile rollback acme/dev --to 3"]);
  const gens = profile
    .command("generations")
    .description("every generation: when, who, from which host, why, and what changed")
    .argument("<profile>", "ORG/NAME")
    .action(async (spec: string, _opts, cmd: Command) => (await load()).generations(cmd, spec));
  examples(gens, ["flox profile generations acme/dev", "flox profile generations acme/dev --json"]);
  const diff = profile
    .command("diff")
    .description("what differs between two generations")
    .argument("<profile>", "ORG/NAME")
    .argument("<from>", "generation number")
    .argument("<to>", "generation number")
    .action(async (spec: string, from: string, to: string, _opts, cmd: Command) =>
      (await load()).diff(cmd, spec, from, to),
    );
  examples(diff, ["flox profile diff acme/dev 3 5"]);
  const schedule = profile
    .command("schedule")
    .description("show or set when followed entries are upgraded: on-publish (default), cron, or off")
    .argument("<profile>", "ORG/NAME")
    .option(
      "--cron <expr>",
      "upgrade at these times (5 fields, or 6 with seconds first); missed runs are made up",
    )
    .option(
      "--jitter <duration>",
      "machines apply a new generation after their own random delay up to this (30m, 2h)",
    )
    .option("--on-publish", "upgrade as soon as a followed channel advances (the default)")
    .option("--off", "upgrade only by hand")
    .action(async (spec: string, opts, cmd: Command) => (await load()).schedule(cmd, spec, opts));
  examples(schedule, [
    "flox profile schedule acme/dev",
    "flox profile schedule acme/dev --cron '0 4 * * *' --jitter 30m",
    "flox profile schedule acme/dev --on-publish",
    "flox profile schedule acme/dev --off",
  ]);
  const status = profile
    .command("status")
    .description("the rollout: how many machines run which generation, who lags, who failed")
    .argument("<profile>", "ORG/NAME")
    .action(async (spec: string, _opts, cmd: Command) =>
      (await import("./machines.js")).profileStatus(cmd, spec),
    );
  examples(status, ["flox profile status acme/dev", "flox profile status acme/dev --json"]);
}

function registerMachines(program: Command): void {
  const load = () => import("./machines.js");
  const machine = program
    .command("machine")
    .description("this machine's registration (with a machine token)");
  examples(machine, ["flox machine register web-1"]);
  const register = machine
    .command("register")
    .description("register this machine under NAME; its token binds it to one org")
    .argument("<name>", "the machine's name, e.g. its host name")
    .action(async (name: string, _opts, cmd: Command) => (await load()).registerMachine(cmd, name));
  register.addHelpText(
    "after",
    `
Needs a machine token: an org owner makes one with flox token create --machine --org ORG. The machine
may then follow that org's profiles and channels (flox subscribe), and nothing else.

Examples:
  FLOX_TOKEN=flox_… flox machine register web-1
`,
  );
  const machines = program
    .command("machines")
    .description("the machines of the orgs this token may read: what each follows and runs")
    .action(async (_opts, cmd: Command) => (await load()).listMachines(cmd));
  examples(machines, ["flox machines", "flox machines --json"]);
  const subscribe = program
    .command("subscribe")
    .description("make this machine follow a profile (or --channel a channel) of its org")
    .argument("[profile]", "ORG/NAME")
    .option("--channel <channel>", "follow a channel instead: ORG or ORG/BRANCH")
    .action(async (spec: string | undefined, opts, cmd: Command) =>
      (await load()).subscribe(cmd, spec, opts),
    );
  examples(subscribe, ["flox subscribe acme/dev", "flox subscribe --channel acme"]);
  const unsubscribe = program
    .command("unsubscribe")
    .description("stop following a profile (or --channel a channel); its links stay as they are")
    .argument("[profile]", "ORG/NAME")
    .option("--channel <channel>", "a channel instead: ORG or ORG/BRANCH")
    .action(async (spec: string | undefined, opts, cmd: Command) =>
      (await load()).unsubscribe(cmd, spec, opts),
    );
  examples(unsubscribe, ["flox unsubscribe acme/dev", "flox unsubscribe --channel acme"]);
  const sync = program
    .command("sync")
    .description(
      "keep PROFILES_DIR/ORG/PROFILE on each followed profile's live generation, switched atomically",
    )
    .requiredOption("--profiles-dir <dir>", "where the profile links live (created if missing)")
    .option("--once", "catch up, then exit (1 if a switch failed) instead of following")
    .action(async (opts, cmd: Command) => (await load()).sync(cmd, opts));
  sync.addHelpText(
    "after",
    `
Needs the machine's token (--token, FLOX_TOKEN or flox login). Follows the server's event stream,
reconnecting with backoff and resuming after the last event seen (kept in DIR/.flox-sync.json). For
each profile it keeps DIR/ORG/NAME -> NAME-N-link -> /nix/store/…-user-environment, as Nix keeps
profiles, and reports each switch (flox profile status). It does not fetch store paths.

Examples:
  flox sync --server http://flox.internal:8080 --token flox_… --profiles-dir /var/lib/flox/profiles
  flox sync --profiles-dir ./profiles --once
`,
  );
}
