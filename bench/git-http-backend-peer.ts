// The peer of `git push` to flox (issue 16): stock `git http-backend` behind this machine's nginx, through fcgiwrap
// (what git's own docs suggest for nginx). A bare repo with receive-pack on and no hooks: a plain push costs only
// HTTP, CGI start-ups and receive-pack itself. Used by bench/push-to-built.ts; not a benchmark itself.
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { execa } from "execa";

const FCGIWRAP = "/usr/sbin/fcgiwrap";
const HTTP_BACKEND = "/usr/lib/git-core/git-http-backend";

export interface GitHttpBackendPeer {
  /** The push URL of the one bare repo. */
  url: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Starts fcgiwrap and nginx under `root` serving `root/repos/peer.git`; `stop()` ends both. */
export async function startGitHttpBackendPeer(root: string): Promise<GitHttpBackendPeer> {
  for (const [file, pkg] of [
    [FCGIWRAP, "fcgiwrap"],
    [HTTP_BACKEND, "git"],
  ] as const) {
    if (!existsSync(file))
      throw new Error(`${file} is missing: npm run setup installs it (Debian package ${pkg})`);
  }
  mkdirSync(join(root, "tmp"), { recursive: true });
  // nginx's workers run as an unprivileged user and must reach the socket (a temp dir is 0700).
  for (const dir of [dirname(root), root]) chmodSync(dir, 0o755);
  const repos = join(root, "repos");
  const repo = join(repos, "peer.git");
  await execa("git", ["init", "-q", "--bare", "--initial-branch=main", repo]);
  // git http-backend refuses receive-pack to an anonymous user unless the repo allows it.
  await execa("git", ["config", "--file", join(repo, "config"), "http.receivepack", "true"]);

  const socket = join(root, "fcgiwrap.sock");
  const children: ChildProcess[] = [];
  // Each runs in its own process group, and the whole group is stopped: fcgiwrap's pre-forked children outlive a
  // SIGTERM to their parent.
  const stop = async () => {
    for (const c of children.splice(0)) {
      if (c.pid === undefined) continue;
      const exited =
        c.exitCode !== null || c.signalCode !== null ? null : new Promise((r) => c.once("exit", r));
      try {
        process.kill(-c.pid, "SIGTERM");
      } catch {
        // the group is gone already
      }
      await exited;
    }
  };
  try {
    // fcgiwrap runs as us (root here) and so writes the repo; nginx's workers only need the socket.
    const fcgi = spawn(FCGIWRAP, ["-c", "2", "-s", `unix:${socket}`], { stdio: "ignore", detached: true });
    children.push(fcgi);
    for (let i = 0; i < 50 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 20));
    if (!existsSync(socket)) throw new Error("fcgiwrap did not create its socket");
    chmodSync(socket, 0o666);

    const port = await freePort();
    const conf = join(root, "nginx.conf");
    const tmp = join(root, "tmp");
    writeFileSync(
      conf,
      `daemon off; worker_processes 1; pid ${root}/nginx.pid; error_log ${root}/error.log;
events { worker_connections 64; }
http { access_log off; client_max_body_size 0;
  client_body_temp_path ${tmp}; proxy_temp_path ${tmp}; fastcgi_temp_path ${tmp};
  uwsgi_temp_path ${tmp}; scgi_temp_path ${tmp};
  server { listen 127.0.0.1:${port};
    location ~ ^/git(/.*)$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME ${HTTP_BACKEND};
      fastcgi_param GIT_PROJECT_ROOT ${repos};
      fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO $1;
      fastcgi_request_buffering off;
      fastcgi_buffering off;
      fastcgi_pass unix:${socket};
    } } }
`,
    );
    const nginx = spawn("nginx", ["-c", conf, "-e", join(root, "error.log")], {
      stdio: "ignore",
      detached: true,
    });
    children.push(nginx);
    const url = `http://127.0.0.1:${port}/git/peer.git`;
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`${url}/info/refs?service=git-receive-pack`).catch(() => null);
      if (res?.ok) return { url, stop };
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`git http-backend behind nginx did not answer at ${url} (see ${root}/error.log)`);
  } catch (err) {
    await stop();
    throw err;
  }
}
