// The evaluation page's parts: the comparison, the counts, the jobs table and the problem groups, each also sent
// alone as a live update's fragment.
import type { EvalJob, EvalProblem } from "../../../lib/api/evaluations.js";
import { duration, StatePill } from "../components.js";
import { type EvalView, PROBLEM_PACKAGES_PER_PAGE } from "./evaluation-view.js";

function CompareCol(p: {
  label: string;
  attrs: string[];
  tone?: "ok" | "bad";
  jobs: Map<string, EvalJob>;
  org: string;
}) {
  const shown = p.attrs.slice(0, 8);
  return (
    <div class={p.tone ?? ""} data-compare={p.label}>
      <div class="k">{p.label}</div>
      <div class="v">{p.attrs.length}</div>
      <ul>
        {shown.map((a) => {
          const j = p.jobs.get(a);
          return <li>{j ? <a href={`/${p.org}/builds/${j.build.id}`}>{a}</a> : <span>{a}</span>}</li>;
        })}
        {p.attrs.length > shown.length ? <li class="muted">+{p.attrs.length - shown.length} more</li> : null}
      </ul>
    </div>
  );
}

function Pager(p: {
  page: number;
  pages: number;
  href: (page: number) => string;
  what: string;
  total: number;
}) {
  if (p.pages <= 1) return null;
  return (
    <div class="pager">
      <span>
        page {p.page} of {p.pages} · {p.total} {p.what}
      </span>
      {p.page > 1 ? (
        <a class="btn" href={p.href(p.page - 1)}>
          ← Previous
        </a>
      ) : null}
      {p.page < p.pages ? (
        <a class="btn" href={p.href(p.page + 1)}>
          Next →
        </a>
      ) : null}
    </div>
  );
}

export function ProblemGroups(p: { problems: EvalProblem[]; page: number; base: string }) {
  const groups = new Map<string, EvalProblem[]>();
  for (const x of p.problems) {
    const key = x.attr ?? "";
    groups.set(key, [...(groups.get(key) ?? []), x]);
  }
  const all = [...groups.entries()];
  const pages = Math.max(1, Math.ceil(all.length / PROBLEM_PACKAGES_PER_PAGE));
  const page = Math.min(p.page, pages);
  const shown = all.slice((page - 1) * PROBLEM_PACKAGES_PER_PAGE, page * PROBLEM_PACKAGES_PER_PAGE);
  return (
    <>
      {shown.map(([attr, list]) => (
        <details class="prob" data-package={attr}>
          <summary>
            <StatePill state="failed" label={`${list.length} problem${list.length === 1 ? "" : "s"}`} />
            <strong>{attr || "outside any package"}</strong>
            <span class="muted small trunc">
              {list[0]?.path}:{list[0]?.line} — {list[0]?.message}
            </span>
          </summary>
          <ul>
            {list.map((x) => (
              <li>
                <code>
                  {x.path}:{x.line}
                </code>
                : {x.message}
                {x.hint ? <span class="hint"> ({x.hint})</span> : null}
              </li>
            ))}
          </ul>
        </details>
      ))}
      <Pager
        page={page}
        pages={pages}
        total={all.length}
        what="packages with problems"
        href={(n) => `${p.base}?problems=${n}#problems`}
      />
    </>
  );
}

export function Comparison({ v }: { v: EvalView }) {
  const cmp = v.ev.comparison;
  const jobs = new Map(v.ev.jobs.map((j) => [j.attr, j]));
  if (!cmp.previous) {
    return (
      <div class="empty">
        {v.ev.state === "succeeded"
          ? "The first evaluation of this jobset: nothing to compare with."
          : `Nothing to compare while the evaluation is ${v.ev.state}.`}
      </div>
    );
  }
  return (
    <div class="cmp">
      <CompareCol label="Newly failed" attrs={cmp.newlyFailed} tone="bad" jobs={jobs} org={v.org} />
      <CompareCol label="Fixed" attrs={cmp.fixed} tone="ok" jobs={jobs} org={v.org} />
      <CompareCol label="New" attrs={cmp.new} jobs={jobs} org={v.org} />
      <CompareCol label="Removed" attrs={cmp.removed} jobs={jobs} org={v.org} />
      <CompareCol label="Still failing" attrs={cmp.stillFailing} jobs={jobs} org={v.org} />
    </div>
  );
}

export function Stats({ v }: { v: EvalView }) {
  return (
    <div class="grid">
      <div class="stat">
        <div class="k">Jobs</div>
        <div class="v">{v.ev.counts.jobs}</div>
      </div>
      <div class="stat">
        <div class="k">Succeeded</div>
        <div class="v c ok">{v.counts.succeeded}</div>
      </div>
      <div class="stat">
        <div class="k">Failed</div>
        <div class="v c bad">{v.counts.failed}</div>
      </div>
      <div class="stat">
        <div class="k">Running / queued</div>
        <div class="v">
          {v.counts.running} / {v.counts.queued}
        </div>
      </div>
      <div class="stat">
        <div class="k">Problems</div>
        <div class="v">{v.ev.counts.problems}</div>
      </div>
    </div>
  );
}

export function Jobs({ v }: { v: EvalView }) {
  return (
    <>
      <nav class="tabs inner">
        {(["all", "failing", "running", "queued", "succeeded"] as const).map((f) => (
          <a class={f === v.filter ? "on" : ""} href={`${v.base}?state=${f}#jobs`}>
            {f === "all" ? "All" : f[0]?.toUpperCase() + f.slice(1)}
            <span class="n">{v.byFilter[f]}</span>
          </a>
        ))}
      </nav>
      {v.rows.length === 0 ? (
        <div class="empty">No {v.filter === "all" ? "" : `${v.filter} `}jobs.</div>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Job</th>
              <th>Package</th>
              <th>Status</th>
              <th class="num">Duration</th>
              <th class="num">Build</th>
            </tr>
          </thead>
          <tbody>
            {v.rows.map((j) => {
              const t = v.times.get(j.build.id);
              return (
                <tr data-attr={j.attr}>
                  <td>
                    <a href={`/${v.org}/builds/${j.build.id}`}>
                      <strong>{j.attr}</strong>
                    </a>
                  </td>
                  <td class="muted">{j.name}</td>
                  <td>
                    <StatePill state={j.build.state} />
                  </td>
                  <td class="num muted nowrap">{t ? duration(t.startedAt, t.finishedAt, v.now) : "—"}</td>
                  <td class="num">
                    <a href={`/${v.org}/builds/${j.build.id}`}>{j.build.id}</a>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <Pager
        page={v.page}
        pages={v.pages}
        total={v.listed}
        what="jobs"
        href={(n) => `${v.base}?state=${v.filter}&page=${n}#jobs`}
      />
    </>
  );
}

/** The parts a live update replaces, by element id: each is the inner HTML of that element. */
export async function fragments(v: EvalView): Promise<Record<string, string>> {
  return {
    "eval-status": String(await (<StatePill state={v.status} />)),
    "eval-compare": String(await (<Comparison v={v} />)),
    "eval-stats": String(await (<Stats v={v} />)),
    "eval-jobs": String(await (<Jobs v={v} />)),
  };
}
