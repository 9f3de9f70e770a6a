// `npm run demo`: a server on embedded defaults, a demo org, and the sample repo pushed through the gate.
// The server keeps running until Ctrl-C so the printed URLs can be tried; `--once` stops after the push.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { execa } from "execa";
import { projectRoot } from "../lib/project-root.js";

const once = process.argv.includes("--once");
const home = process.env.FLOX_DEMO_DIR ?? join(projectRoot, ".flox-demo");
const dataDir = join(home, "data");
const work = join(home, "nixexprs");
const adminToken = `flox_${randomBytes(32).toString("base64url")}`;

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

async function startServer(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [join(projectRoot, "cli/bin/flox"), "server", "--data-dir", dataDir, "--listen", "127.0.0.1:0"],
    { env: { ...process.env, FLOX_ADMIN_TOKEN: adminToken }, stdio: ["ignore", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`flox server exited with code ${code}`)));
    lines.on("line", (line) => {
      const m = /listening on (http:\/\/\S+)/.exec(line);
      if (m?.[1]) resolve(m[1]);
    });
  });
  return { url, stop: () => child.kill("SIGTERM") };
}

async function main(): Promise<void> {
  rmSync(home, { recursive: true, force: true });
  mkdirSync(home, { recursive: true });

  step(`starting flox server (data in ${dataDir})`);
  const server = await startServer();
  process.on("SIGINT", () => {
    server.stop();
    process.exit(0);
  });

  step("creating org 'demo' and a member token");
  await api(server.url, adminToken, "POST", "/orgs", { name: "demo", displayName: "Demo org" });
  const created = (await api(server.url, adminToken, "POST", "/tokens", {
    scope: "org",
    org: "demo",
    role: "member",
    name: "demo-pusher",
  })) as { secret: string };
  const repoUrl = `${server.url}/demo/nixexprs.git`;
  const pushUrl = repoUrl.replace("http://", `http://demo:${created.secret}@`);

  step("pushing the sample repo (fixtures/repos/good) through the push gate");
  cpSync(join(projectRoot, "fixtures/repos/good"), work, { recursive: true });
  const git = (...args: string[]) =>
    execa("git", args, {
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
  const accepted = await git("push", pushUrl, "main");
  if (accepted.exitCode !== 0) throw new Error("the sample repo was refused by the push gate");

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

  step("flox is up");
  process.stdout.write(
    [
      `  server       ${server.url}`,
      `  git repo     ${repoUrl}   (clone with: git clone http://x:${created.secret}@${repoUrl.slice(7)})`,
      `  API          ${server.url}/api/v1/orgs/demo/pushes`,
      `  admin token  ${adminToken}`,
      `  member token ${created.secret}`,
      `  CLI          export FLOX_SERVER=${server.url} FLOX_TOKEN=${adminToken}; node cli/bin/flox org list`,
      "",
    ].join("\n"),
  );
  if (once) {
    server.stop();
    return;
  }
  process.stdout.write("Press Ctrl-C to stop the server.\n");
}

main().catch((err: Error) => {
  process.stderr.write(`demo failed: ${err.message}\n`);
  process.exit(1);
});
