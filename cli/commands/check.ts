// flox check: the push gate (hooks/gate.ts, the very code the server's pre-receive hook runs) over the
// working tree, so a push's problems show up before the push.

import type { Command } from "commander";
import { checkTree, GateError } from "../../hooks/gate.js";
import { formatProblem } from "../../hooks/layout-rules.js";
import { globals } from "../context.js";
import { chooseBase } from "../local/base-choice.js";
import { requireCheckout } from "../local/checkout.js";
import type { LocalBaseOptions } from "../local/gate-settings.js";
import { worktreeTree } from "../local/worktree-tree.js";
import { chooseNix } from "../nix-choice.js";
import { CliError, emit, exitCodes, green, red } from "../output.js";

export async function check(cmd: Command, opts: LocalBaseOptions): Promise<void> {
  const json = globals(cmd).json === true;
  const checkout = await requireCheckout(process.cwd());
  await chooseNix("check", opts.nixBin);
  const base = await chooseBase(cmd, checkout, opts);
  const settings = base.settings;
  if (base.note) process.stderr.write(`flox: ${base.note}\n`);
  const tree = await worktreeTree(checkout.root);
  let result: Awaited<ReturnType<typeof checkTree>>;
  try {
    result = await checkTree(tree, settings, checkout.root);
  } catch (err) {
    if (err instanceof GateError) throw new CliError(`the gate cannot check this tree: ${err.message}`);
    throw err;
  }
  const n = result.problems.length;
  emit(
    json,
    {
      ok: n === 0,
      tree,
      base: {
        source: base.source,
        ...(base.server ? { server: base.server } : {}),
        basePath: settings.basePath,
      },
      ...result,
    },
    () => {
      // The gate's own lines, as `git push` shows them after `remote: `.
      for (const p of result.problems) process.stdout.write(`${formatProblem(p)}\n`);
      if (n === 0) {
        const k = result.jobs.length;
        process.stdout.write(
          `${green("ok")}: ${k} ${k === 1 ? "package evaluates" : "packages evaluate"} ` +
            `(${result.packages.join(", ") || "no packages yet"}); the push gate would accept this work tree ` +
            `(checked with ${base.description})\n`,
        );
      }
    },
  );
  if (n > 0) {
    throw new CliError(
      `${red(`${n} ${n === 1 ? "problem" : "problems"}`)}: a push of this work tree would be refused ` +
        `(checked with ${base.description})`,
      exitCodes.failed,
    );
  }
}
