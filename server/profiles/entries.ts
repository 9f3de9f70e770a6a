// What an install ref names: a channel attribute (followed) or a store path (pinned), as a profile entry.
import { parseStorePath } from "../../lib/store-path.js";
import { currentPoint, publishedJobs, splitChannelName } from "../channels/channels.js";
import type { Db } from "../db/open.js";
import type { ProfileEntry } from "../db/tables.js";
import { ConflictError, InvalidInputError, NotFoundError } from "../errors.js";
import { findJobset } from "../evaluations/data.js";
import { findOrg, type OrgRecord } from "../orgs/orgs.js";
import type { Storehouse } from "../storehouse/store.js";

/** Can the token read this org's channels? Routes answer it from the token's roles. */
export type CanRead = (org: OrgRecord) => Promise<boolean> | boolean;

/**
 * `acme#hello` / `acme/staging#hello` (a channel attribute, followed) or `/nix/store/…` (pinned), resolved to what
 * it is now. The store path must be in the Storehouse: machines fetch it from there.
 */
export async function resolveEntry(
  db: Db,
  storehouse: Storehouse,
  ref: string,
  priority: number,
  canRead: CanRead,
): Promise<ProfileEntry> {
  if (ref.startsWith("/")) {
    let parsed: ReturnType<typeof parseStorePath>;
    try {
      parsed = parseStorePath(ref);
    } catch (err) {
      throw new InvalidInputError(`${ref} is not a store path: ${(err as Error).message}`);
    }
    const path = `/nix/store/${parsed.hash}-${parsed.name}`;
    if (!(await storehouse.findPath(parsed.hash))) {
      throw new InvalidInputError(
        `${path} is not in the Storehouse; upload it first (nix copy --to http://HOST/cache …) or install a channel package (ORG#attr)`,
      );
    }
    return {
      label: parsed.name,
      source: path,
      name: parsed.name,
      system: "",
      outputs: { out: path },
      priority,
    };
  }
  const hash = ref.indexOf("#");
  if (hash <= 0 || hash === ref.length - 1) {
    throw new InvalidInputError(
      `${JSON.stringify(ref)} is neither CHANNEL#attr (e.g. acme#hello, acme/staging#hello) nor a /nix/store path`,
    );
  }
  const channel = ref.slice(0, hash);
  const attr = ref.slice(hash + 1);
  const { org: orgName, branch } = splitChannelName(channel);
  const org = await findOrg(db, orgName);
  const jobset = org && (await canRead(org)) ? await findJobset(db, org, branch) : undefined;
  if (!org || !jobset)
    throw new NotFoundError(`there is no channel ${channel} you may read; \`flox channels\` lists them`);
  const point = await currentPoint(db, jobset.id);
  if (!point)
    throw new ConflictError(`channel ${channel} has no green evaluation yet, so nothing to install from it`);
  const job = (await publishedJobs(db, point.evaluationId)).find((j) => j.attr === attr);
  if (!job) {
    throw new NotFoundError(
      `channel ${channel} has no package ${attr} (at evaluation #${point.evaluationId}); \`flox channel show ${channel}\` lists them`,
    );
  }
  return {
    label: attr,
    source: `${channel}#${attr}`,
    name: job.name,
    system: job.system,
    outputs: job.outputs,
    priority,
  };
}
