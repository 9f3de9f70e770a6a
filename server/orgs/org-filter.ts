// `?org=NAME` on the list endpoints (channels, profiles, machines): that org only, after the same reader check its
// own routes make; without it, every org the token may read.
import { Name } from "../../lib/api/common.js";
import type { Db } from "../db/open.js";
import { InvalidInputError } from "../errors.js";
import { readableOrgIds, requireRole } from "../orgs/permissions.js";
import type { TokenRecord } from "../orgs/tokens.js";
import { getOrg, listOrgs, type OrgRecord } from "./orgs.js";

export async function orgsOfQuery(db: Db, token: TokenRecord, org: string | undefined): Promise<OrgRecord[]> {
  if (org === undefined) return listOrgs(db, await readableOrgIds(db, token));
  const name = Name.safeParse(org);
  if (!name.success) throw new InvalidInputError(`?org= takes an org name, not ${JSON.stringify(org)}`);
  const record = await getOrg(db, name.data);
  await requireRole(db, token, record, "reader");
  return [record];
}
