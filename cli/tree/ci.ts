// `flox jobsets`, `evals`, `eval`: CI's jobsets and evaluations. Actions import their module on demand.
import type { Command } from "commander";
import { examples } from "./help.js";

export function registerCi(program: Command): void {
  const jobsets = program
    .command("jobsets")
    .description("list an org's jobsets (one per pushed branch) with their latest evaluation")
    .argument("<org>", "org name")
    .action(async (org: string, _opts, cmd: Command) =>
      (await import("../commands/ci.js")).listJobsets(cmd, org),
    );
  examples(jobsets, ["flox jobsets acme", "flox jobsets acme --json"]);

  const evals = program
    .command("evals")
    .description("list the evaluations of a jobset, newest first")
    .argument("<org/branch>", "the jobset, e.g. acme/main")
    .action(async (spec: string, _opts, cmd: Command) =>
      (await import("../commands/ci.js")).listEvaluations(cmd, spec),
    );
  examples(evals, ["flox evals acme/main", "flox evals acme/feature/x --json"]);

  const show = program
    .command("eval")
    .description("show an evaluation: its jobs with their build state, problems, and what changed")
    .argument("<id>", "the evaluation's number, e.g. 12 (as the push printed it)")
    .action(async (id: string, _opts, cmd: Command) =>
      (await import("../commands/ci.js")).showEvaluation(cmd, id),
    );
  examples(show, ["flox eval 12", "flox eval 12 --json"]);
}
