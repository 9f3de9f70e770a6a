// flox jobsets ORG, flox evals ORG/BRANCH, flox eval N: what CI made of each push.
import type { Command } from "commander";
import type { BuildState } from "../../lib/api/builds.js";
import type { Evaluation, EvaluationDetail } from "../../lib/api/evaluations.js";
import { connect } from "../context.js";
import { shortSha, shortTime } from "../format.js";
import { bold, CliError, dim, emit, exitCodes, green, red } from "../output.js";
import { printTable } from "../table.js";

const stateColor: Partial<Record<string, (s: string) => string>> = {
  succeeded: green,
  cached: green,
  failed: red,
  "dependency-failed": red,
  "timed-out": red,
  aborted: red,
  skipped: dim,
};
export const paintState = (state: string) => (stateColor[state] ?? ((s: string) => s))(state);

/** `3 jobs, 1 to build, 2 already built` — the words the push prints (hooks/push-record.ts). */
export function describeCounts(e: Evaluation): string {
  const c = e.counts;
  if (e.state === "skipped") return "skipped (-o skip-ci)";
  if (e.state === "queued" || e.state === "running") return "";
  const parts = [`${c.jobs} jobs`, `${c.newBuilds} to build`];
  if (c.sharedBuilds > 0) parts.push(`${c.sharedBuilds} already queued`);
  parts.push(`${c.cachedBuilds} already built`);
  if (c.failedBuilds > 0) parts.push(`${c.failedBuilds} failed before`);
  if (c.problems > 0) parts.push(`${c.problems} problem${c.problems === 1 ? "" : "s"}`);
  return parts.join(", ");
}

export async function listJobsets(cmd: Command, org: string): Promise<void> {
  const { client, json } = await connect(cmd);
  const jobsets = await client.listJobsets(org);
  emit(json, { jobsets }, () =>
    printTable(
      ["jobset", "last eval", "commit", "state", "summary", "when"],
      jobsets.map((j) => [
        `${j.org}/${j.branch}`,
        j.latest ? `#${j.latest.id}` : "",
        j.latest ? shortSha(j.latest.commitSha) : "",
        j.latest ? paintState(j.latest.state) : "",
        j.latest ? describeCounts(j.latest) : "",
        shortTime(j.latest?.createdAt),
      ]),
      `no jobsets in ${org} yet (every pushed branch becomes one)`,
    ),
  );
}

function splitJobset(spec: string): { org: string; branch: string } {
  const slash = spec.indexOf("/");
  if (slash <= 0 || slash === spec.length - 1) {
    throw new CliError(`${JSON.stringify(spec)} is not ORG/BRANCH, e.g. acme/main`, exitCodes.usage);
  }
  return { org: spec.slice(0, slash), branch: spec.slice(slash + 1) };
}

export async function listEvaluations(cmd: Command, spec: string): Promise<void> {
  const { org, branch } = splitJobset(spec);
  const { client, json } = await connect(cmd);
  const evaluations = await client.listEvaluations(org, branch);
  emit(json, { evaluations }, () =>
    printTable(
      ["eval", "commit", "push", "state", "summary", "created"],
      evaluations.map((e) => [
        `#${e.id}`,
        shortSha(e.commitSha),
        `#${e.pushId}`,
        paintState(e.state),
        e.error ?? describeCounts(e),
        shortTime(e.createdAt),
      ]),
      `no evaluations of ${org}/${branch} yet`,
    ),
  );
}

export async function showEvaluation(cmd: Command, idText: string): Promise<void> {
  const id = Number(idText.replace(/^#/, ""));
  if (!Number.isSafeInteger(id) || id <= 0) {
    throw new CliError(`${JSON.stringify(idText)} is not an evaluation number`, exitCodes.usage);
  }
  const { client, json } = await connect(cmd);
  const evaluation = await client.getEvaluation(id);
  emit(json, { evaluation }, () => printEvaluation(evaluation));
}

function printEvaluation(e: EvaluationDetail): void {
  const out = process.stdout;
  out.write(
    `${bold(`evaluation #${e.id}`)} of ${e.org}/${e.branch} at ${shortSha(e.commitSha)} (push #${e.pushId}): ${paintState(e.state)}\n`,
  );
  if (e.error) out.write(`${red("error:")} ${e.error}\n`);
  const summary = describeCounts(e);
  if (summary) out.write(`${summary}\n`);
  out.write("\n");
  printTable(
    ["attr", "name", "system", "build", "state"],
    e.jobs.map((j) => [j.attr, j.name, j.system, `#${j.build.id}`, paintState(j.build.state as BuildState)]),
    "no jobs",
  );
  if (e.problems.length > 0) {
    out.write(`\n${bold("problems:")}\n`);
    for (const p of e.problems)
      out.write(`  ${p.path}:${p.line}: ${p.message}${p.hint ? ` (${p.hint})` : ""}\n`);
  }
  const c = e.comparison;
  if (c.previous === null) {
    out.write(`\n${dim("first evaluation of this jobset: nothing to compare with")}\n`);
    return;
  }
  out.write(`\n${bold(`compared with evaluation #${c.previous}:`)}\n`);
  const lists: Array<[string, string[]]> = [
    ["new", c.new],
    ["removed", c.removed],
    ["newly failed", c.newlyFailed],
    ["fixed", c.fixed],
    ["still failing", c.stillFailing],
  ];
  const changed = lists.filter(([, attrs]) => attrs.length > 0);
  if (changed.length === 0) out.write("  no changes\n");
  for (const [label, attrs] of changed) out.write(`  ${label}: ${attrs.join(", ")}\n`);
}
