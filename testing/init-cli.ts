// Test helpers for flox init, check and build: the real CLI in a checkout, and programs of its chroot store run
// at their /nix/store paths.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import * as assert from "uvu/assert";
import { projectRoot } from "../lib/project-root.js";
import { gitIn } from "./repos.js";

const floxBin = join(projectRoot, "cli", "bin", "flox");
export const fixtureBase = join(projectRoot, "fixtures", "init-base");

export interface Run {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

export async function flox(cwd: string, args: string[]): Promise<Run> {
  const r = await execa(process.execPath, [floxBin, ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: "1", FLOX_SERVER: "http://127.0.0.1:1", FLOX_TOKEN: "" },
    reject: false,
    stdin: "ignore",
  });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

export function ok(r: Run, what: string): Run {
  assert.is(r.exitCode, 0, `${what} exits 0\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** A fresh checkout: git repo on main with an empty pkgs/ (what a clone of a new org's repo has). */
export async function newCheckout(tmp: string, name: string): Promise<string> {
  const dir = join(tmp, name);
  await mkdir(join(dir, "pkgs"), { recursive: true });
  await gitIn(dir, "init", "-q", "-b", "main");
  return dir;
}

/** Runs a program of the checkout's chroot store at its /nix/store path, in a private mount namespace. */
export async function runStored(storeRoot: string, program: string, args: string[] = []): Promise<string> {
  const r = await execa(
    "/usr/bin/unshare",
    [
      "--mount",
      "--propagation",
      "private",
      "/bin/sh",
      "-c",
      '/usr/bin/mount --bind "$0/nix/store" /nix/store && exec "$@"',
      storeRoot,
      program,
      ...args,
    ],
    { env: { PATH: "/nonexistent" }, extendEnv: false, reject: false },
  );
  assert.is(r.exitCode, 0, `${program} ${args.join(" ")}: ${r.stderr}`);
  // execa drops the final newline.
  return String(r.stdout);
}

/** `flox build NAME --json`: the output path and the chroot store. */
export async function build(
  dir: string,
  name: string,
): Promise<{ out: string; storeRoot: string; drvPath: string }> {
  const r = ok(await flox(dir, ["build", name, "--json"]), `flox build ${name}`);
  const data = JSON.parse(r.stdout) as {
    ok: boolean;
    outputs: { out: string };
    storeRoot: string;
    drvPath: string;
  };
  assert.ok(data.ok);
  assert.match(data.outputs.out, new RegExp(`^/nix/store/[0-9a-z]{32}-${name}-`));
  return { out: data.outputs.out, storeRoot: data.storeRoot, drvPath: data.drvPath };
}

/** A tmux server of the test's own (its own socket), so no other tmux session is ever touched. */
export class Terminal {
  constructor(readonly socket: string) {}

  #tmux(...args: string[]) {
    return execa("tmux", ["-L", this.socket, ...args]);
  }

  /** Starts `command` (a shell line) in a 120×40 terminal in `cwd`; the pane stays after it exits. */
  async start(session: string, cwd: string, command: string): Promise<void> {
    await this.#tmux(
      "new-session",
      "-d",
      "-s",
      session,
      "-x",
      "120",
      "-y",
      "40",
      "-c",
      cwd,
      `${command}; sleep 600`,
    );
  }

  /** `flox ARGS` with NO_COLOR and `env`, then `flox exited N` on the screen. */
  async startFlox(
    session: string,
    cwd: string,
    args: string,
    env: Record<string, string> = {},
  ): Promise<void> {
    const vars = Object.entries({ NO_COLOR: "1", ...env })
      .map(([k, v]) => `${k}='${v}'`)
      .join(" ");
    const flox = `'${process.execPath}' '${join(projectRoot, "cli", "bin", "flox")}'`;
    await this.start(session, cwd, `env ${vars} ${flox} ${args}; echo "flox exited $?"`);
  }

  async screen(session: string): Promise<string> {
    return String((await this.#tmux("capture-pane", "-p", "-t", session)).stdout);
  }

  /** Waits until the screen shows `text`; fails with the screen as it was. */
  async waitFor(session: string, text: string | RegExp): Promise<string> {
    const until = Date.now() + 20_000;
    for (;;) {
      const s = await this.screen(session);
      if (typeof text === "string" ? s.includes(text) : text.test(s)) return s;
      if (Date.now() > until) assert.unreachable(`the screen never showed ${text}:\n${s}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Keys by tmux name: Enter, Down, BSpace, C-c. */
  async keys(session: string, ...k: string[]): Promise<void> {
    await this.#tmux("send-keys", "-t", session, ...k);
  }

  /** Text typed as it is. */
  async type(session: string, text: string): Promise<void> {
    await this.#tmux("send-keys", "-t", session, "-l", "--", text);
  }

  async stop(): Promise<void> {
    await execa("tmux", ["-L", this.socket, "kill-server"], { reject: false });
  }
}
