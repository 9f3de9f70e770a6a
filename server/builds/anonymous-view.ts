// What nobody-logged-in sees of a build: builds are shared by drv path, so one a public org wants may be wanted by
// private orgs too, whose names, branches and attrs must stay hidden. (What a token sees is the build detail's own rule.)
import { inArray } from "drizzle-orm";
import type { Db } from "../db/open.js";
import { orgs } from "../db/schema.js";

/** The build with only the jobs of public orgs. */
export function publicJobsOnly<T extends { jobs: { org: string }[] }>(db: Db, build: T): T {
  const names = [...new Set(build.jobs.map((j) => j.org))];
  if (names.length === 0) return build;
  const open = new Set(
    db
      .select({ name: orgs.name, public: orgs.public })
      .from(orgs)
      .where(inArray(orgs.name, names))
      .all()
      .filter((o) => o.public)
      .map((o) => o.name),
  );
  return { ...build, jobs: build.jobs.filter((j) => open.has(j.org)) };
}
