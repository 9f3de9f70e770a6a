// Evaluation records → the API's JSON shapes: GET /evaluations/:id's answer, which the evaluation page shows too.
import type { EvalProblem, Evaluation, EvaluationResponse, Jobset } from "../../lib/api/evaluations.js";
import type { Db } from "../db/open.js";
import type { OrgRecord } from "../orgs/orgs.js";
import { compareWithPrevious } from "./compare.js";
import { type EvaluationRecord, jobsOf, latestEvaluation, listJobsets, problemsOf } from "./data.js";

export const presentEvaluation = (e: EvaluationRecord): Evaluation => ({
  id: e.id,
  org: e.org,
  branch: e.branch,
  pushId: e.pushId,
  commitSha: e.commitSha,
  state: e.state,
  error: e.error,
  counts: {
    jobs: e.jobCount,
    problems: e.problemCount,
    newBuilds: e.newBuilds,
    sharedBuilds: e.sharedBuilds,
    cachedBuilds: e.cachedBuilds,
    failedBuilds: e.failedBuilds,
  },
  createdAt: e.createdAt,
  startedAt: e.startedAt,
  finishedAt: e.finishedAt,
});

export async function presentProblems(db: Db, evaluationId: number): Promise<EvalProblem[]> {
  return (await problemsOf(db, evaluationId)).map((p) => ({
    attr: p.attr,
    path: p.path,
    line: p.line,
    message: p.message,
    hint: p.hint,
  }));
}

/** GET /evaluations/:id's answer; the web page of an evaluation answers the same. */
export async function evaluationDetail(db: Db, e: EvaluationRecord): Promise<EvaluationResponse> {
  return {
    evaluation: {
      ...presentEvaluation(e),
      jobs: await jobsOf(db, e.id),
      problems: await presentProblems(db, e.id),
      comparison: await compareWithPrevious(db, e),
    },
  };
}

/** The org's jobsets with each one's newest evaluation: GET /orgs/:org/jobsets, and the org page. */
export async function presentJobsets(db: Db, org: OrgRecord): Promise<Jobset[]> {
  const out: Jobset[] = [];
  for (const j of await listJobsets(db, org)) {
    const latest = await latestEvaluation(db, j.id);
    out.push({
      org: org.name,
      branch: j.branch,
      createdAt: j.createdAt,
      latest: latest ? presentEvaluation(latest) : null,
    });
  }
  return out;
}
