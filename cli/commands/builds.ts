// flox builds, flox build N, flox log N [--follow], flox cancel, flox restart, flox bump, flox builders.
import type { Command } from "commander";
import { type Build, type BuildDetail, BuildState } from "../../lib/api/builds.js";
import { connect } from "../context.js";
import { shortTime } from "../format.js";
import { bold, CliError, dim, emit, exitCodes } from "../output.js";
import { printTable } from "../table.js";
import { paintState } from "./ci.js";

/** `12`, `#12` → 12; anything else is a usage error naming what was expected. */
export function parseId(text: string, what: string): number {
  const id = Number(text.replace(/^#/, ""));
  if (!/^#?[1-9][0-9]*$/.test(text) || !Number.isSafeInteger(id)) {
    throw new CliError(`${JSON.stringify(text)} is not ${what} number (e.g. 12)`, exitCodes.usage);
  }
  return id;
}

/** `/nix/store/abc…-hello-1.0.drv` → `hello-1.0`: the part people recognise. */
function drvName(drvPath: string): string {
  return drvPath.replace(/^.*\/[0-9a-z]{32}-/, "").replace(/\.drv$/, "");
}

/** The first job it is wanted by and how many more, counting the jobs of orgs this token may not read. */
function wantedBy(b: Build): string {
  const first = b.jobs[0];
  const relay = b.relay[0];
  const more = b.jobs.length + b.relay.length - 1 + b.otherJobs;
  if (!first && relay) return `${relay.org}: relay by ${relay.actor}${more > 0 ? ` +${more}` : ""}`;
  if (!first) return b.otherJobs ? `${b.otherJobs} of other orgs` : "";
  return `${first.org}/${first.branch}#${first.attr}${more > 0 ? ` +${more}` : ""}`;
}

/** What a job shows besides its place: a job whose org withdrew reads cancelled while the build goes on. */
const jobLine = (j: Build["jobs"][number]) =>
  `  ${j.org}/${j.branch}#${j.attr} (evaluation #${j.evaluation}) ${paintState(j.state)}\n`;

/** A relayed daemon connection that asked for it (`flox daemon`, `flox nix`): who, from where. */
const relayLine = (r: Build["relay"][number]) =>
  `  ${r.org}: relay by ${r.actor}${r.host ? ` on ${r.host}` : ""} (session #${r.session}) ${paintState(r.state)}\n`;

export async function listBuilds(cmd: Command, opts: { state?: string; org?: string; limit?: string }) {
  let state: BuildState | undefined;
  if (opts.state !== undefined) {
    const parsed = BuildState.safeParse(opts.state);
    if (!parsed.success) {
      throw new CliError(
        `--state ${opts.state}: not a build state; one of ${BuildState.options.join(", ")}`,
        exitCodes.usage,
      );
    }
    state = parsed.data;
  }
  const limit = opts.limit === undefined ? undefined : parseId(opts.limit, "a");
  const { client, json } = await connect(cmd);
  const builds = await client.listBuilds({
    ...(state ? { state } : {}),
    ...(opts.org ? { org: opts.org } : {}),
    ...(limit ? { limit } : {}),
  });
  emit(json, { builds }, () =>
    printTable(
      ["build", "state", "derivation", "wanted by", "builder", "prio", "tries", "started", "finished"],
      builds.map((b) => [
        `#${b.id}`,
        paintState(b.state),
        drvName(b.drvPath),
        wantedBy(b),
        b.builder,
        b.priority || "",
        b.attempts,
        shortTime(b.startedAt),
        shortTime(b.finishedAt),
      ]),
      state ? `no ${state} builds` : "no builds yet (every pushed package becomes one)",
    ),
  );
}

function printBuild(b: BuildDetail): void {
  const out = process.stdout;
  out.write(`${bold(`build #${b.id}`)} ${drvName(b.drvPath)}: ${paintState(b.state)}\n`);
  const rows: Array<[string, string]> = [
    ["derivation", b.drvPath],
    ...Object.entries(b.outputs).map(([name, path]): [string, string] => [`output ${name}`, path]),
    ["system", b.system + (b.requiredFeatures.length ? ` (needs ${b.requiredFeatures.join(", ")})` : "")],
    ["priority", String(b.priority)],
    ["attempts", String(b.attempts)],
    ["builder", b.builder ?? "-"],
    ["created", shortTime(b.createdAt)],
    ["started", shortTime(b.startedAt) || "-"],
    ["finished", shortTime(b.finishedAt) || "-"],
  ];
  if (b.message) rows.push(["message", b.message]);
  for (const [k, v] of rows) out.write(`  ${dim(k.padEnd(12))}${v}\n`);
  if (b.jobs.length || b.relay.length || b.otherJobs) {
    out.write(`\n${bold("wanted by:")}\n`);
    for (const j of b.jobs) out.write(jobLine(j));
    for (const r of b.relay) out.write(relayLine(r));
    if (b.otherJobs) out.write(`  ${dim(`and ${b.otherJobs} job(s) of other orgs`)}\n`);
  }
  const refs = (list: BuildDetail["dependsOn"]) =>
    list.map((d) => `#${d.id} ${paintState(d.state)}`).join(", ");
  if (b.dependsOn.length) out.write(`\n${bold("waits for:")} ${refs(b.dependsOn)}\n`);
  if (b.dependents.length) out.write(`${bold("needed by:")} ${refs(b.dependents)}\n`);
  out.write(`\n${dim(`log: flox log ${b.id}`)}\n`);
}

export async function showBuild(cmd: Command, idText: string): Promise<void> {
  const id = parseId(idText, "a build");
  const { client, json } = await connect(cmd);
  const build = await client.getBuild(id);
  emit(json, { build }, () => printBuild(build));
}

/** Prints the log; with --follow until the build finished. Exits 1 when the build did not succeed. */
export async function showLog(cmd: Command, idText: string, opts: { follow?: boolean }): Promise<void> {
  const id = parseId(idText, "a build");
  const { client } = await connect(cmd);
  const body = opts.follow ? client.followBuildLog(id) : await client.buildLog(id);
  for await (const chunk of body) {
    if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once("drain", r));
  }
  if (opts.follow) {
    const build = await client.getBuild(id);
    if (build.state !== "succeeded" && build.state !== "cached") {
      throw new CliError(`build #${id} ended ${build.state}`, exitCodes.failed);
    }
    process.stderr.write(`build #${id}: ${build.state}\n`);
  }
}

export async function cancel(cmd: Command, idText: string, opts: { eval?: boolean }): Promise<void> {
  const { client, json } = await connect(cmd);
  if (opts.eval) {
    const id = parseId(idText, "an evaluation");
    const changed = await client.cancelEvaluation(id);
    emit(json, { changed }, () =>
      process.stdout.write(
        changed.length
          ? `cancelled ${changed.length} build(s) of evaluation #${id} for its org: ${changed.map((b) => `#${b}`).join(", ")} (a build other orgs still want goes on for them)\n`
          : `evaluation #${id} had no queued or running builds\n`,
      ),
    );
    return;
  }
  const id = parseId(idText, "a build");
  const build = await client.cancelBuild(id);
  emit(json, { build }, () =>
    process.stdout.write(
      build.state === "queued" || build.state === "running"
        ? `build #${id}: cancelled for your org(s); still ${paintState(build.state)} for others that want it\n`
        : `build #${id}: ${paintState(build.state)}\n`,
    ),
  );
}

export async function restart(cmd: Command, idText: string, opts: { eval?: boolean }): Promise<void> {
  const { client, json } = await connect(cmd);
  if (opts.eval) {
    const id = parseId(idText, "an evaluation");
    const changed = await client.restartEvaluation(id);
    emit(json, { changed }, () =>
      process.stdout.write(
        changed.length
          ? `requeued ${changed.length} build(s) of evaluation #${id}: ${changed.map((b) => `#${b}`).join(", ")}\n`
          : `evaluation #${id} has no build that ended without success\n`,
      ),
    );
    return;
  }
  const id = parseId(idText, "a build");
  const build = await client.restartBuild(id);
  emit(json, { build }, () =>
    process.stdout.write(
      `build #${id}: ${paintState(build.state)}${build.dependents.length ? ` (with what was waiting for it)` : ""}\n`,
    ),
  );
}

export async function bump(cmd: Command, idText: string, opts: { priority?: string }): Promise<void> {
  const id = parseId(idText, "a build");
  let priority: number | undefined;
  if (opts.priority !== undefined) {
    priority = Number(opts.priority);
    if (!/^-?[0-9]+$/.test(opts.priority) || !Number.isSafeInteger(priority)) {
      throw new CliError(`--priority ${opts.priority}: give a whole number`, exitCodes.usage);
    }
  }
  const { client, json } = await connect(cmd);
  const build = await client.bumpBuild(id, priority);
  emit(json, { build }, () => process.stdout.write(`build #${id}: priority ${build.priority}\n`));
}

export async function listBuilders(cmd: Command): Promise<void> {
  const { client, json } = await connect(cmd);
  const { builders, queue } = await client.builders();
  emit(json, { builders, queue }, () => {
    printTable(
      ["builder", "connected", "systems", "features", "jobs", "running", "last seen"],
      builders.map((b) => [
        b.name,
        b.connected ? "yes" : dim("no"),
        b.systems.join(","),
        b.features.join(","),
        `${b.running.length + b.otherRunning}/${b.maxJobs}`,
        [
          ...b.running.map((r) => `#${r.build} ${drvName(r.drvPath)}`),
          ...(b.otherRunning ? [dim(`${b.otherRunning} of other orgs`)] : []),
        ].join(", "),
        shortTime(b.lastSeen),
      ]),
      "no builder has called in yet (start one: flox builder --help)",
    );
    process.stdout.write(`queue: ${queue.queued} waiting, ${queue.running} building\n`);
  });
}
