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

export function presentProblems(db: Db, evaluationId: number): EvalProblem[] {
  return problemsOf(db, evaluationId).map((p) => ({
    attr: p.attr,
    path: p.path,
    line: p.line,
    message: p.message,
    hint: p.hint,
  }));
}

/** GET /evaluations/:id's answer; the web page of an evaluation answers the same. */
export function evaluationDetail(db: Db, e: EvaluationRecord): EvaluationResponse {
  return {
    evaluation: {
      ...presentEvaluation(e),
      jobs: jobsOf(db, e.id),
      problems: presentProblems(db, e.id),
      comparison: compareWithPrevious(db, e),
    },
  };
}

/** The org's jobsets with each one's newest evaluation: GET /orgs/:org/jobsets, and the org page. */
export function presentJobsets(db: Db, org: OrgRecord): Jobset[] {
  return listJobsets(db, org).map((j) => {
    const latest = latestEvaluation(db, j.id);
    return {
      org: org.name,
      branch: j.branch,
      createdAt: j.createdAt,
      latest: latest ? presentEvaluation(latest) : null,
    };
  });
}
