// flox build NAME: build one package of the work tree here, in a chroot store under the checkout's
// .flox/, with the same evaluation code as the server (so the same .drv and output paths); or, with
// --remote, on the server's builders (cli/local/remote-build.ts).

import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Command } from "commander";
import { formatProblem } from "../../hooks/layout-rules.js";
import { listTree, materializeTree } from "../../lib/git-tree.js";
import { evaluatePackages } from "../../lib/nix-eval/index.js";
import { globals } from "../context.js";
import { chooseBase } from "../local/base-choice.js";
import { requireCheckout } from "../local/checkout.js";
import type { LocalBaseOptions } from "../local/gate-settings.js";
import { realise } from "../local/realise.js";
import { remoteBuild } from "../local/remote-build.js";
import { worktreeTree } from "../local/worktree-tree.js";
import { chooseNix } from "../nix-choice.js";
import { bold, CliError, dim, emit, exitCodes, green } from "../output.js";

export interface BuildLocalOptions extends LocalBaseOptions {
  remote?: boolean;
  gitRemote?: string;
}

/** `hello` or `pkgs/hello` (the spelling for a package whose name is a number) → `hello`. */
export function packageArg(text: string): string {
  return text.replace(/^\.?\/?pkgs\//, "").replace(/\/(default\.nix)?$/, "");
}

export async function buildLocal(cmd: Command, spec: string, opts: BuildLocalOptions): Promise<void> {
  const json = globals(cmd).json === true;
  const name = packageArg(spec);
  const checkout = await requireCheckout(process.cwd());
  const tree = await worktreeTree(checkout.root);
  const entries = await listTree(tree, { cwd: checkout.root });
  if (!entries.some((e) => e.path === `pkgs/${name}/default.nix`)) {
    const names = [
      ...new Set(entries.map((e) => /^pkgs\/([^/]+)\/default\.nix$/.exec(e.path)?.[1]).filter(Boolean)),
    ];
    throw new CliError(
      `no package ${name} in this work tree (pkgs/${name}/default.nix)${names.length ? `; there are: ${names.join(", ")}` : ""}` +
        "; flox init starts one",
      exitCodes.usage,
    );
  }

  if (!opts.remote) await chooseNix("build", opts.nixBin);
  if (opts.remote) {
    const say = (line: string) => process.stderr.write(`${line}\n`);
    say(
      `flox: pushing the work tree to ${opts.gitRemote ?? "origin"} as a scratch branch; the server builds it`,
    );
    const r = await remoteBuild(checkout.root, tree, name, { remote: opts.gitRemote ?? "origin" });
    emit(json, { package: name, remote: true, ...r, ok: r.exitCode === 0 }, () => {
      if (r.exitCode === 0) {
        process.stdout.write(
          `${green("built")} on the server: ${name} (branch ${r.branch}, commit ${r.commit.slice(0, 7)})\n`,
        );
      }
    });
    if (r.exitCode !== 0) throw new CliError(`the remote build of ${name} failed (see above)`);
    return;
  }

  const base = await chooseBase(cmd, checkout, opts);
  const settings = base.settings;
  if (base.note) process.stderr.write(`flox: ${base.note}\n`);
  const work = join(checkout.cacheDir, "trees");
  await mkdir(work, { recursive: true });
  const repoDir = await mkdtemp(join(work, "tree-"));
  try {
    await materializeTree(entries, repoDir, { cwd: checkout.root });
    const log = process.stderr;
    log.write(dim(`flox: evaluating ${name} with ${base.description}\n`));
    const evaluation = await evaluatePackages(
      {
        repoDir,
        storeRoot: settings.storeRoot,
        busyboxDir: settings.busyboxDir,
        basePath: settings.basePath ?? undefined,
        system: settings.system,
      },
      [name],
      { instantiate: true },
    );
    const job = evaluation.jobs.find((j) => j.attr === name);
    if (!job || evaluation.problems.length > 0) {
      for (const p of evaluation.problems) log.write(`${formatProblem(p)}\n`);
      throw new CliError(`${name} does not evaluate: nothing was built`);
    }
    log.write(dim(`flox: building ${job.drvPath} in ${settings.storeRoot}\n`));
    const r = await realise(settings.storeRoot, checkout.cacheDir, job.drvPath, name, log);
    const data = {
      package: name,
      ok: r.ok,
      drvPath: job.drvPath,
      outputs: job.outputs,
      storeRoot: settings.storeRoot,
    };
    if (!r.ok) {
      if (json) emit(true, data, () => {});
      throw new CliError(`the build of ${name} failed (nix-store exited ${r.exitCode}); its log is above`);
    }
    emit(json, data, () => {
      process.stdout.write(`${green("built")} ${bold(job.name)}\n`);
      for (const [out, path] of Object.entries(job.outputs)) {
        process.stdout.write(`  ${out}: ${path}\n`);
        process.stdout.write(dim(`        files: ${join(settings.storeRoot, path)}\n`));
      }
    });
  } finally {
    await rm(repoDir, { recursive: true, force: true });
  }
}
