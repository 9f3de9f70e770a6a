// flox gc, flox pin add|list|remove, flox storehouse usage: the Storehouse's lifecycle from the command line.
import type { Command } from "commander";
import { ApiClient } from "../../lib/api/client.js";
import type { GcReport } from "../../lib/api/storehouse-gc.js";
import { formatBytes } from "../../lib/bytes.js";
import { connect } from "../context.js";
import { shortTime } from "../format.js";
import { bold, CliError, dim, emit, exitCodes, green } from "../output.js";
import { printTable } from "../table.js";

/** Lines of paths a human report shows; --json has up to 1000. */
const SHOWN = 20;

function printReport(r: GcReport): void {
  const out = process.stdout;
  const verb = r.dryRun ? "would free" : "freed";
  if (r.resumed > 0) out.write(`finished ${r.resumed} deletions a stopped run had left\n`);
  out.write(
    `roots: ${Object.entries(r.roots)
      .map(([k, n]) => `${n} ${k}`)
      .join(", ")}; ${r.reachable} paths reachable, ${r.unreachable} not\n`,
  );
  for (const p of r.sample.slice(0, SHOWN))
    out.write(
      `  ${dim(formatBytes(p.bytes).padStart(10))}  ${p.storePath}  ${dim(`last used ${shortTime(p.lastUsed)}`)}\n`,
    );
  if (r.paths > SHOWN) out.write(dim(`  … and ${r.paths - SHOWN} more (--json lists up to 1000)\n`));
  out.write(
    `${r.dryRun ? bold("dry run") : green("collected")}: ${verb} ${bold(formatBytes(r.bytes))} in ${r.paths} paths of ${formatBytes(r.totalBytes)}` +
      `; ${r.logs.count} build logs (${formatBytes(r.logs.bytes)}), ${r.tarballs.count} channel tarballs (${formatBytes(r.tarballs.bytes)}), ` +
      `${r.changeEvents} feed events, ${r.sessions} expired sessions\n`,
  );
  if (r.nixRoot)
    out.write(
      r.nixRoot.skipped
        ? `server's nix-root: not collected (${r.nixRoot.skipped})\n`
        : `server's nix-root: ${r.dryRun ? "would delete" : "deleted"} ${r.nixRoot.paths} paths${r.dryRun ? "" : ` (${formatBytes(r.nixRoot.bytes)})`} with nix-store --gc\n`,
    );
  if (r.spared > 0) out.write(`${r.spared} paths were uploaded or asked for during the run and stay\n`);
  if (r.dryRun && r.paths > 0) out.write(dim("run `flox gc` without --dry-run to delete them\n"));
}

/** A collection of a big Storehouse takes minutes; the server answers when it is done. */
const GC_TIMEOUT_MS = 12 * 60 * 60 * 1000;

export async function runGc(cmd: Command): Promise<void> {
  const { dryRun, org } = cmd.opts<{ dryRun?: boolean; org?: string }>();
  const { connection, json } = await connect(cmd);
  const client = new ApiClient({
    server: connection.server,
    token: connection.token ?? "",
    timeoutMs: GC_TIMEOUT_MS,
  });
  const gc = await client.gc({ ...(dryRun ? { dryRun: true } : {}), ...(org ? { org } : {}) });
  emit(json, { gc }, () => printReport(gc));
}

export async function showUsage(cmd: Command): Promise<void> {
  const { org } = cmd.opts<{ org?: string }>();
  const { client, json } = await connect(cmd);
  const usage = await client.storehouseUsage(org);
  emit(json, { usage }, () => {
    const out = process.stdout;
    out.write(`${bold("Storehouse")}: ${formatBytes(usage.totalBytes)} in ${usage.totalPaths} paths\n`);
    out.write(
      `roots: ${Object.entries(usage.roots)
        .map(([k, n]) => `${n} ${k}`)
        .join(", ")}\n`,
    );
    out.write(`next GC would free ${bold(formatBytes(usage.nextGc.bytes))} in ${usage.nextGc.paths} paths\n`);
    const run = usage.lastRun;
    out.write(
      run
        ? `last GC: ${shortTime(run.startedAt)} (${run.trigger}), ${run.state}, freed ${formatBytes(run.bytes)} in ${run.paths} paths\n`
        : "last GC: never\n",
    );
    out.write(
      `schedule: ${usage.schedule}${usage.nextRunAt ? `, next ${shortTime(usage.nextRunAt)}` : ""}${usage.targetBytes !== null ? `; target ${formatBytes(usage.targetBytes)}` : ""}\n\n`,
    );
    printTable(
      ["org", "keeps", "paths", "quota", "keep evaluations", "keep channel days"],
      usage.orgs.map((o) => [
        o.org,
        formatBytes(o.bytes),
        String(o.paths),
        o.quotaBytes === null ? "none" : formatBytes(o.quotaBytes),
        String(o.keepEvaluations),
        String(o.keepChannelDays),
      ]),
      "no orgs",
    );
  });
}

export async function addPin(cmd: Command, storePath: string): Promise<void> {
  const { name, until, org } = cmd.opts<{ name?: string; until?: string; org?: string }>();
  if (until !== undefined && Number.isNaN(Date.parse(until)))
    throw new CliError(
      `--until ${JSON.stringify(until)} is not a date; give e.g. 2027-01-31`,
      exitCodes.usage,
    );
  const { client, json } = await connect(cmd);
  const pin = await client.addPin({
    storePath,
    ...(name ? { name } : {}),
    ...(until ? { until } : {}),
    ...(org ? { org } : {}),
  });
  emit(json, { pin }, () => {
    process.stdout.write(
      `${green("pinned")} ${pin.storePath}${pin.name ? ` as ${bold(pin.name)}` : ""}${pin.until ? ` until ${shortTime(pin.until)}` : ""}\n`,
    );
    if (!pin.present)
      process.stdout.write(
        dim("the Storehouse does not hold it yet; the pin keeps it once it is uploaded\n"),
      );
  });
}

export async function listPins(cmd: Command): Promise<void> {
  const { client, json } = await connect(cmd);
  const pins = await client.listPins();
  emit(json, { pins }, () =>
    printTable(
      ["name", "store path", "org", "until", "held", "by"],
      pins.map((p) => [
        p.name ?? "",
        p.storePath,
        p.org ?? "",
        p.until ? shortTime(p.until) : "",
        p.present ? "yes" : "no",
        p.createdBy ?? "",
      ]),
      "no pins (flox pin add PATH keeps a path and its closure)",
    ),
  );
}

export async function removePins(cmd: Command, ref: string): Promise<void> {
  const { client, json } = await connect(cmd);
  const removed = await client.removePins(ref);
  emit(json, { removed }, () => {
    for (const p of removed) process.stdout.write(`${green("removed")} pin ${p.name ?? p.storePath}\n`);
  });
}
