// flox org set ORG --keep-evaluations N --keep-channel-days D --quota SIZE: what GC keeps of an org, and its quota.
import type { Command } from "commander";
import type { RetentionBody } from "../../lib/api/storehouse-gc.js";
import { parseByteSize } from "../../lib/byte-size.js";
import { formatBytes } from "../../lib/bytes.js";
import { connect } from "../context.js";
import { bold, CliError, emit, exitCodes, green } from "../output.js";

export interface RetentionFlags {
  keepEvaluations?: string;
  keepChannelDays?: string;
  quota?: string;
}

function count(flag: string, value: string, min: number): number {
  if (!/^[0-9]{1,6}$/.test(value.trim()) || Number(value) < min)
    throw new CliError(
      `${flag} ${JSON.stringify(value)} is not a whole number of at least ${min}`,
      exitCodes.usage,
    );
  return Number(value);
}

/** The change the flags ask for; undefined when none was given. */
export function retentionChange(flags: RetentionFlags): RetentionBody | undefined {
  const body: RetentionBody = {};
  if (flags.keepEvaluations !== undefined)
    body.keepEvaluations = count("--keep-evaluations", flags.keepEvaluations, 1);
  if (flags.keepChannelDays !== undefined)
    body.keepChannelDays = count("--keep-channel-days", flags.keepChannelDays, 0);
  if (flags.quota !== undefined) {
    if (flags.quota.trim() === "none") body.quotaBytes = null;
    else {
      const bytes = parseByteSize(flags.quota);
      if (bytes === undefined)
        throw new CliError(
          `--quota ${JSON.stringify(flags.quota)} is not a size: give bytes or a number with K, M, G or T (e.g. 50G), or "none"`,
          exitCodes.usage,
        );
      body.quotaBytes = bytes;
    }
  }
  return Object.keys(body).length > 0 ? body : undefined;
}

export async function setRetention(cmd: Command, org: string, change: RetentionBody): Promise<void> {
  const { client, json } = await connect(cmd);
  const retention = await client.setRetention(org, change);
  emit(json, { retention }, () =>
    process.stdout.write(
      `${green("ok")}: ${bold(org)} keeps the newest ${retention.keepEvaluations} evaluations per jobset and ${retention.keepChannelDays} days of channel points; quota ${
        retention.quotaBytes === null ? "none" : formatBytes(retention.quotaBytes)
      }\n`,
    ),
  );
}
