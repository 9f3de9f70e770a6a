// Per-org quotas at upload: a path made for an org (an output of a build its jobs want) is refused with a 507 when
// the org's bytes after collection (the closure of its roots) plus the path would pass its quota.
import { inArray } from "drizzle-orm";
import { formatBytes } from "../../../lib/bytes.js";
import type { NarInfo } from "../../../lib/narinfo.js";
import type { Db } from "../../db/open.js";
import { builds, cachePathOrgs, orgs } from "../../db/tables.js";
import { QuotaExceededError } from "../../errors.js";
import type { UploadAdmission } from "../accept.js";
import { loadIndex } from "./closure.js";
import { retentionByOrg } from "./retention.js";
import { collectRoots, wantingOrgs } from "./roots.js";
import { closureBytes } from "./usage.js";

/** How long an org's measured usage is trusted (uploads admitted since are added to it). */
const USAGE_TTL_MS = 60_000;

/** The orgs a path is uploaded for: those whose jobs want a running build that has it as an output. */
export async function uploadOrgs(db: Db, storePath: string): Promise<number[]> {
  const running = await db
    .select({ id: builds.id, outputs: builds.outputs })
    .from(builds)
    .where(inArray(builds.state, ["running"]));
  const ids = running.filter((b) => Object.values(b.outputs).includes(storePath)).map((b) => b.id);
  if (ids.length === 0) return [];
  return [...new Set([...(await wantingOrgs(db, ids)).values()].flat())];
}

export class QuotaGuard implements UploadAdmission {
  readonly #db: Db;
  readonly #usage = new Map<number, { at: number; bytes: Promise<number> }>();

  constructor(db: Db) {
    this.#db = db;
  }

  /** After a collection or a change of retention: measure again at the next upload. */
  invalidate(): void {
    this.#usage.clear();
  }

  #bytesOf(orgId: number): Promise<number> {
    const known = this.#usage.get(orgId);
    if (known && Date.now() - known.at < USAGE_TTL_MS) return known.bytes;
    const bytes = (async () => {
      const index = await loadIndex(this.#db);
      const { roots } = await collectRoots(this.#db);
      return closureBytes(index, roots, orgId).bytes;
    })();
    bytes.catch(() => this.#usage.delete(orgId));
    this.#usage.set(orgId, { at: Date.now(), bytes });
    return bytes;
  }

  async admit(info: NarInfo, fileSize: number): Promise<(hash: string) => Promise<void>> {
    const orgIds = await uploadOrgs(this.#db, info.storePath);
    if (orgIds.length > 0) {
      const retention = await retentionByOrg(this.#db);
      for (const orgId of orgIds) {
        const quota = retention(orgId).quotaBytes;
        if (quota === null) continue;
        const held = await this.#bytesOf(orgId);
        if (held + fileSize > quota) throw await this.#refusal(orgId, quota, held, fileSize, info.storePath);
      }
    }
    return async (hash) => {
      if (orgIds.length === 0) return;
      await this.#db
        .insert(cachePathOrgs)
        .values(orgIds.map((orgId) => ({ hash, orgId })))
        .onConflictDoNothing();
      for (const orgId of orgIds) {
        const known = this.#usage.get(orgId);
        if (known) known.bytes = known.bytes.then((b) => b + fileSize);
      }
    };
  }

  async #refusal(orgId: number, quota: number, held: number, adds: number, storePath: string) {
    const [row] = await this.#db
      .select({ name: orgs.name })
      .from(orgs)
      .where(inArray(orgs.id, [orgId]));
    const org = row?.name ?? `#${orgId}`;
    return new QuotaExceededError(
      `org ${org} would pass its Storehouse quota of ${formatBytes(quota)}: even after \`flox gc\` it keeps ${formatBytes(held)}, and ${storePath} adds ${formatBytes(adds)}. ` +
        `Keep less (\`flox org set ${org} --keep-evaluations N\`, \`flox pin remove\`) and run \`flox gc\`, or raise the quota (\`flox org set ${org} --quota SIZE\`); \`flox storehouse usage --org ${org}\` shows what it holds`,
    );
  }
}
