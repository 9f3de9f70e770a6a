// `npm run demo`: a server on embedded defaults, a demo org, a builder, and the sample repo pushed through the
// gate and built into the Storehouse. The server and builder keep running until Ctrl-C so the printed URLs can
// be tried; `--once` stops after the builds. Every child dies with the demo: SIGTERM, SIGINT (Ctrl-C), SIGHUP and
// a failure stop the agent, the builder and the server in that order; kill -9 reaches them through PDEATHSIG.
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  cpSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { execa, type Options } from "execa";
import { diesWithParent } from "../lib/dies-with-parent.js";
import { projectRoot } from "../lib/project-root.js";

const once = process.argv.includes("--once");
const home = process.env.FLOX_DEMO_DIR ?? join(projectRoot, ".flox-demo");
const dataDir = join(home, "data");
const work = join(home, "nixexprs");
const adminToken = `flox_${randomBytes(32).toString("base64url")}`;

/** The server, the builder and the agent, in the order started; stopped newest first. */
const longLived: ChildProcess[] = [];

/** A `flox` command that runs until stopped; SIGTERMed by the kernel if the demo dies without stopping it. */
function startFlox(args: string[], options: SpawnOptions): ChildProcess {
  // The bin itself, as users run it (its sh line tunes malloc before Node starts).
  const cmd = diesWithParent(join(projectRoot, "cli/bin/flox"), args, "TERM");
  const child = spawn(cmd.file, cmd.args, options);
  longLived.push(child);
  return child;
}

/** A short command (git, flox, the agent's exec); it too gets SIGTERM if the demo dies while it runs. */
function run<O extends Options>(file: string, args: string[], options: O) {
  const cmd = diesWithParent(file, args, "TERM");
  return execa(cmd.file, cmd.args, options);
}

/** Past the server's own 10 s grace for its builds and children. */
const STOP_GRACE_MS = 30_000;

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const force = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
  await gone;
  clearTimeout(force);
}

let stopping: Promise<void> | undefined;
/** Agent, builder, server: each waited for, so that nothing of the demo outlives it. */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const child of [...longLived].reverse()) await stopChild(child);
  })();
  return stopping;
}

function step(text: string): void {
  process.stdout.write(`\n==> ${text}\n`);
}

async function api(
  url: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const res = await fetch(`${url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as { error?: { message: string } };
  if (!res.ok) throw new Error(`${method} ${path}: ${json.error?.message ?? res.status}`);
  return json;
}

async function startServer(): Promise<{ url: string }> {
  const child = startFlox(["server", "--data-dir", dataDir, "--listen", "127.0.0.1:0"], {
    env: { ...process.env, FLOX_ADMIN_TOKEN: adminToken },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`flox server exited with code ${code}`)));
    lines.on("line", (line) => {
      const m = /listening on (http:\/\/\S+)/.exec(line);
      if (m?.[1]) resolve(m[1]);
    });
  });
  return { url };
}

/** A `flox builder` beside the server, its output in a file so it does not drown the demo's own lines. */
function startBuilder(url: string, token: string, system: string): { log: string } {
  const log = join(home, "builder.log");
  const out = createWriteStream(log);
  const child = startFlox(
    [
      "builder",
      ...["--server", url, "--token", token, "--store", join(home, "builder-store")],
      ...["--systems", system, "--name", "demo-builder", "--max-jobs", "2"],
    ],
    { env: { ...process.env, FLOX_BUILDER_POLL_MS: "250" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  return { log };
}

interface DemoJob {
  attr: string;
  outputs: Record<string, string>;
  build: { id: number; state: string };
}

/** Polls the evaluation until none of its builds is queued or running. */
async function waitForBuilds(url: string, token: string, evaluation: number): Promise<DemoJob[]> {
  const until = Date.now() + 10 * 60_000;
  for (;;) {
    const e = (await api(url, token, "GET", `/evaluations/${evaluation}`)) as {
      evaluation: { state: string; jobs: DemoJob[] };
    };
    const jobs = e.evaluation.jobs;
    const busy = jobs.some((j) => j.build.state === "queued" || j.build.state === "running");
    if (e.evaluation.state === "succeeded" && !busy) return jobs;
    if (e.evaluation.state === "failed") throw new Error(`evaluation #${evaluation} failed`);
    if (Date.now() > until)
      throw new Error(`the builds of evaluation #${evaluation} did not finish in 10 minutes`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * The endpoint agent: the Storehouse as a lazy FUSE /nix/store; one program run through it fetches only its
 * closure. Needs root and /dev/fuse (as on CI); elsewhere the demo says so and goes on.
 */
async function showAgent(url: string, jobs: DemoJob[], token: string): Promise<void> {
  step("flox agent: the Storehouse mounted as a lazy /nix/store; running hello fetches only hello's closure");
  if (process.getuid?.() !== 0 || !existsSync("/dev/fuse")) {
    process.stdout.write(
      "  skipped: the agent needs root and /dev/fuse (see README, 'The endpoint agent')\n",
    );
    return;
  }
  const mount = join(home, "mnt");
  const cacheDir = join(home, "agent-cache");
  mkdirSync(mount, { recursive: true });
  const child = startFlox(
    [
      "agent",
      "--server",
      url,
      "--mount",
      mount,
      "--cache-dir",
      cacheDir,
      "--daemon-socket",
      join(home, "daemon.sock"),
      "--daemon-token",
      token,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const log = createWriteStream(join(home, "agent.log"));
  child.stderr?.pipe(log);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const mounted = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 30_000);
    child.once("exit", () => resolve(false));
    lines.on("line", (line) => {
      if (/mounted at/.test(line)) {
        clearTimeout(timer);
        resolve(true);
      }
    });
  });
  if (!mounted) {
    process.stdout.write(`  the agent did not mount; its log: ${join(home, "agent.log")}\n`);
    await stopChild(child);
    return;
  }
  const out = jobs.find((j) => j.attr === "hello")?.outputs.out;
  if (out) {
    const flox = join(projectRoot, "cli/bin/flox");
    const fetched = async () => {
      const r = await run(process.execPath, [flox, "agent", "status", "--cache-dir", cacheDir, "--json"], {
        reject: false,
      });
      const s = JSON.parse(r.stdout || "{}") as { remote?: { bytesFetched: number; narRequests: number } };
      return `${s.remote?.narRequests ?? "?"} NARs, ${s.remote?.bytesFetched ?? "?"} bytes fetched so far`;
    };
    // Looking costs the signed listing only; running fetches the program's closure.
    const ls = await run(
      process.execPath,
      [flox, "agent", "exec", "--mount", mount, "--", "ls", "-l", `${out}/bin`],
      {
        reject: false,
      },
    );
    process.stdout.write(`  $ ls -l ${out}/bin\n${ls.stdout.replace(/^/gm, "  ")}\n  (${await fetched()})\n`);
    process.stdout.write(`  $ ${out}/bin/hello\n`);
    await run(process.execPath, [flox, "agent", "exec", "--mount", mount, "--", `${out}/bin/hello`], {
      stdout: "inherit",
      stderr: "inherit",
      reject: false,
    });
    process.stdout.write(`  (${await fetched()})\n`);
    process.stdout.write(`  cached now (ls ${mount}): ${readdirSync(mount).join(", ")}\n`);
    await showRelay(url, token, mount);
  }
}

/** Polls the channel until it points at `evaluation` (the publisher moves it moments after the last build). */
async function waitForChannel(url: string, token: string, evaluation: number): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    const c = (await api(url, token, "GET", "/channels/demo")) as {
      channel: { current: { evaluation: number } | null };
    };
    if ((c.channel.current?.evaluation ?? 0) >= evaluation) return;
    if (Date.now() > until) throw new Error(`channel demo did not reach evaluation #${evaluation}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/**
 * The shared Nix daemon: a stock `nix-build` of an expression in no repo, through the agent's relay socket, built
 * on the builder; its result run through the mount.
 */
async function showRelay(url: string, token: string, mount: string): Promise<void> {
  step(
    "flox nix: a stock nix-build through the shared daemon; it builds on the builder, the result runs from the mount",
  );
  const flox = join(projectRoot, "cli/bin/flox");
  const expr = join(home, "relay-demo.nix");
  writeFileSync(
    expr,
    `let bb = builtins.path { path = ${join(dataDir, "busybox")}; name = "busybox"; }; in
derivation {
  name = "relay-demo";
  system = builtins.currentSystem;
  builder = "\${bb}/bin/sh";
  args = [ "-c" "echo built by the farm for the relay; \${bb}/bin/busybox mkdir -p $out/bin; printf '#!\${bb}/bin/sh\\necho hello through the shared daemon\\n' > $out/bin/hello; \${bb}/bin/busybox chmod +x $out/bin/hello" ];
}
`,
  );
  const socket = join(home, "daemon.sock");
  process.stdout.write(
    `  $ flox nix --daemon-socket ${socket} --mount ${mount} -- nix-build --no-out-link ${expr}\n`,
  );
  const built = await run(
    process.execPath,
    [flox, "nix", "--daemon-socket", socket, "--mount", mount, "--", "nix-build", "--no-out-link", expr],
    {
      reject: false,
      env: {
        NIX_CONF_DIR: join(home, "nix-client"),
        NIX_USER_CONF_FILES: "",
        HOME: home,
        XDG_CACHE_HOME: join(home, "cache"),
      },
    },
  );
  process.stdout.write(`${`${built.stderr}\n${built.stdout}`.trim().replace(/^/gm, "  ")}\n`);
  const out = built.stdout.trim().split("\n").pop() ?? "";
  if (built.exitCode !== 0 || !out.startsWith("/nix/store/")) {
    process.stdout.write("  the relayed build failed (see above)\n");
    return;
  }
  process.stdout.write(`  $ ${out}/bin/hello\n`);
  await run(process.execPath, [flox, "agent", "exec", "--mount", mount, "--", `${out}/bin/hello`], {
    stdout: "inherit",
    stderr: "inherit",
    reject: false,
  });
  await run(process.execPath, [flox, "builds", "--org", "demo", "--limit", "1"], {
    env: { FLOX_SERVER: url, FLOX_TOKEN: token },
    stdout: "inherit",
    stderr: "inherit",
    reject: false,
  });
}

async function main(): Promise<void> {
  // A demo killed hard may have left its agent's mount behind.
  await execa("fusermount", ["-uz", join(home, "mnt")], { reject: false });
  rmSync(home, { recursive: true, force: true });
  mkdirSync(home, { recursive: true });

  step(`starting flox server (data in ${dataDir})`);
  const server = await startServer();

  step("creating org 'demo', a member token and a builder token");
  await api(server.url, adminToken, "POST", "/orgs", { name: "demo", displayName: "Demo org" });
  const created = (await api(server.url, adminToken, "POST", "/tokens", {
    scope: "org",
    org: "demo",
    role: "member",
    name: "demo-pusher",
  })) as { secret: string };
  const builderToken = (
    (await api(server.url, adminToken, "POST", "/tokens", { scope: "builder", name: "demo-builder" })) as {
      secret: string;
    }
  ).secret;
  const { system } = JSON.parse(readFileSync(join(dataDir, "run/hooks.json"), "utf8")) as { system: string };

  step("starting a builder (its own chroot store; it claims builds from the server over HTTP)");
  const builder = startBuilder(server.url, builderToken, system);
  process.stdout.write(`  builder log: ${builder.log}\n`);
  const repoUrl = `${server.url}/demo/nixexprs.git`;
  const pushUrl = repoUrl.replace("http://", `http://demo:${created.secret}@`);

  step(
    "pushing the sample repo (fixtures/repos/good) with -o wait: gate, evaluation, then every build, live",
  );
  cpSync(join(projectRoot, "fixtures/repos/good"), work, { recursive: true });
  const git = (...args: string[]) =>
    run("git", args, {
      cwd: work,
      reject: false,
      env: {
        GIT_AUTHOR_NAME: "demo",
        GIT_AUTHOR_EMAIL: "demo@example.invalid",
        GIT_COMMITTER_NAME: "demo",
        GIT_COMMITTER_EMAIL: "demo@example.invalid",
      },
      stdout: "inherit",
      stderr: "inherit",
    });
  await git("init", "-q", "--initial-branch=main");
  await git("add", "-A");
  await git("commit", "-qm", "sample packages");
  const accepted = await git("push", "-o", "wait", pushUrl, "main");
  if (accepted.exitCode !== 0) throw new Error("the sample repo was refused, or one of its builds failed");

  const evals = (await api(server.url, created.secret, "GET", "/orgs/demo/jobsets/main/evaluations")) as {
    evaluations: Array<{ id: number }>;
  };
  const evaluation = evals.evaluations[0]?.id;
  if (evaluation === undefined) throw new Error("the push made no evaluation");
  const jobs = await waitForBuilds(server.url, created.secret, evaluation);
  step(`evaluation #${evaluation}: every package built and signed into the Storehouse`);
  const floxCli = (...args: string[]) =>
    run(process.execPath, [join(projectRoot, "cli/bin/flox"), ...args], {
      env: { FLOX_SERVER: server.url, FLOX_TOKEN: created.secret },
      stdout: "inherit",
      stderr: "inherit",
      reject: false,
    });
  await floxCli("builds", "--org", "demo");
  const hello = jobs.find((j) => j.attr === "hello");

  step("channel 'demo' follows the green evaluation; any Nix can nix-channel --add it");
  await waitForChannel(server.url, created.secret, evaluation);
  await floxCli("channel", "show", "demo");

  step("profile demo/dev: a Nix user environment in the Storehouse, upgraded whenever the channel moves");
  await floxCli("profile", "create", "demo/dev", "--reason", "the demo's tools");
  await floxCli("profile", "install", "demo/dev", "demo#hello", "demo#wordcount", "--reason", "first tools");
  await floxCli("profile", "generations", "demo/dev");

  if (hello) await showAgent(server.url, jobs, created.secret);

  step("pushing a broken package on branch 'broken': the gate refuses it and says why");
  mkdirSync(join(work, "pkgs/broken"), { recursive: true });
  writeFileSync(
    join(work, "pkgs/broken/default.nix"),
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Nix antiquotation, not a JS placeholder
    '{ writeShellScriptBin }:\nwriteShellScriptBin "broken" "echo ${greeting}"\n',
  );
  await git("checkout", "-q", "-b", "broken");
  await git("add", "-A");
  await git("commit", "-qm", "a package with a mistake");
  const refused = await git("push", pushUrl, "broken");
  if (refused.exitCode === 0) throw new Error("the broken package got through the push gate");

  await newcomer(server.url, created.secret);

  step(
    "garbage collection: what `flox gc` would free now (nightly by default; the newest 3 evaluations per jobset, 30 days of channel points and the live profile generations are kept)",
  );
  await execa(process.execPath, [join(projectRoot, "cli/bin/flox"), "gc", "--dry-run"], {
    env: { FLOX_SERVER: server.url, FLOX_TOKEN: adminToken },
    stdout: "inherit",
    stderr: "inherit",
    reject: false,
  });

  const publicKey = (await (await fetch(`${server.url}/cache/public-key`)).text()).trim();
  const latestBuild = Math.max(0, ...jobs.map((j) => j.build.id));
  step("flox is up");
  process.stdout.write(
    [
      `  server       ${server.url}`,
      `  web pages    ${server.url}/login   (log in with the member token below)`,
      `    org home   ${server.url}/demo`,
      `    jobset     ${server.url}/demo/jobsets/main`,
      `    evaluation ${server.url}/demo/evaluations/${evaluation}`,
      ...(latestBuild ? [`    a build    ${server.url}/demo/builds/${latestBuild}`] : []),
      `    channel    ${server.url}/demo/channels/main   (history, subscribe lines)`,
      `    profile    ${server.url}/demo/profiles/dev   (generations, rollout, rollback)`,
      `    fleet      ${server.url}/demo/machines · ${server.url}/-/builders · ${server.url}/-/storehouse`,
      `  git repo     ${repoUrl}   (clone with: git clone http://x:${created.secret}@${repoUrl.slice(7)})`,
      `  evaluation   ${server.url}/api/v1/evaluations/${evaluation}`,
      `  binary cache ${server.url}/cache   (trusted-public-keys = ${publicKey})`,
      ...(hello ? [`  a build log  cli/bin/flox log ${hello.build.id}`] : []),
      `  channel      ${server.url}/channels/demo   (nix-channel --add ${server.url}/channels/demo demo)`,
      `  profile      cli/bin/flox profile show demo/dev`,
      `  admin token  ${adminToken}`,
      `  member token ${created.secret}`,
      `  CLI          export FLOX_SERVER=${server.url} FLOX_TOKEN=${adminToken}; cli/bin/flox builds`,
      "",
    ].join("\n"),
  );
  if (once) {
    await stopAll();
    return;
  }
  process.stdout.write("Press Ctrl-C to stop the server, the builder and the agent.\n");
}

/** A newcomer's first package: flox init --org, flox init from a template, flox check, flox build, git push. */
async function newcomer(url: string, token: string): Promise<void> {
  step("a newcomer's first package: flox init --org demo in an empty directory, then a shell-script package");
  const dir = join(home, "newcomer");
  mkdirSync(dir, { recursive: true });
  const env = {
    FLOX_SERVER: url,
    FLOX_TOKEN: token,
    GIT_AUTHOR_NAME: "newcomer",
    GIT_AUTHOR_EMAIL: "newcomer@example.invalid",
    GIT_COMMITTER_NAME: "newcomer",
    GIT_COMMITTER_EMAIL: "newcomer@example.invalid",
  };
  const say = async (command: string, args: string[]) => {
    process.stdout.write(
      `$ ${command === process.execPath ? "flox" : command} ${args
        .slice(command === process.execPath ? 1 : 0)
        .map((a) => (/\s/.test(a) ? `"${a}"` : a))
        .join(" ")}\n`,
    );
    const r = await run(command, args, {
      cwd: dir,
      env,
      stdout: "inherit",
      stderr: "inherit",
      reject: false,
    });
    if (r.exitCode !== 0) throw new Error(`${args.join(" ")} failed`);
  };
  const flox = (...args: string[]) => say(process.execPath, [join(projectRoot, "cli/bin/flox"), ...args]);
  await flox("init", "--org", "demo");
  await flox(
    "init",
    "--name",
    "greet",
    "--template",
    "shell",
    "--description",
    "Greets whoever asks",
    "--yes",
  );
  await flox("check");
  await flox("build", "greet");
  await say("git", ["add", "-A"]);
  await say("git", ["commit", "-qm", "greet: a new package"]);
  await say("git", ["push", "-o", "wait", "origin", "main"]);
  process.stdout.write(`  ${dir}/pkgs/greet/default.nix is the commented package file flox init wrote\n`);
}

// A line to a terminal that went away (SIGHUP) must not end the demo before it has stopped its children.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    process.stdout.write(`\n${signal}: stopping the agent, the builder and the server\n`);
    void stopAll().then(() => process.exit(0));
  });
}
main().catch(async (err: Error) => {
  // After a signal, a step failing because its server went away is no news.
  if (!stopping) process.stderr.write(`demo failed: ${err.message}\n`);
  await stopAll();
  process.exit(1);
});
