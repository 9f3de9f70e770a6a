// The /-/storehouse page's collection card: roots by kind, what the next GC frees, the last run, bytes per org.
import type { FC } from "hono/jsx";
import type { StorehouseUsage } from "../../../lib/api/storehouse-gc.js";
import { Card, Time } from "../components.js";
import { DataTable } from "../data-table.js";
import { bytes, plural } from "../fleet-components.js";

export const GcCard: FC<{ gc: StorehouseUsage; now: number }> = ({ gc, now }) => {
  const run = gc.lastRun;
  const took =
    run?.finishedAt && run.startedAt
      ? `${((Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000).toFixed(1)} s`
      : "";
  return (
    <Card title="Garbage collection" id="gc">
      <div class="kv">
        <span class="k">Roots</span>
        <span data-roots={JSON.stringify(gc.roots)}>
          {Object.entries(gc.roots)
            .map(([k, n]) => `${n} ${k}`)
            .join(" · ")}
        </span>
        <span class="k">Next GC frees</span>
        <span id="next-gc" data-paths={String(gc.nextGc.paths)} data-bytes={String(gc.nextGc.bytes)}>
          <strong>{bytes(gc.nextGc.bytes)}</strong> in {plural(gc.nextGc.paths, "path")}
          {gc.nextRunAt ? (
            <span class="muted small">
              {" "}
              · scheduled <code>{gc.schedule}</code>, next at {gc.nextRunAt.slice(0, 16).replace("T", " ")}{" "}
              UTC
            </span>
          ) : (
            <span class="muted small"> · no schedule (--gc-schedule off): run flox gc</span>
          )}
        </span>
        {gc.targetBytes !== null ? (
          <>
            <span class="k">Target</span>
            <span>collections stop under {bytes(gc.targetBytes)}</span>
          </>
        ) : null}
        <span class="k">Last run</span>
        <span id="last-gc" data-state={run?.state ?? "none"}>
          {run ? (
            <>
              <Time at={run.finishedAt ?? run.startedAt} now={now} />: {run.state}, freed{" "}
              <strong>{bytes(run.bytes)}</strong> in {plural(run.paths, "path")}
              {took ? ` in ${took}` : ""} <span class="muted small">({run.trigger})</span>
              {run.error ? <div class="muted small">{run.error}</div> : null}
            </>
          ) : (
            <span class="muted">never; the schedule or flox gc runs one</span>
          )}
        </span>
      </div>
      <DataTable
        columns={["Org", { label: "Keeps", num: true }, { label: "Quota", num: true }, "Retention"]}
        rows={gc.orgs}
        empty="No org you may read keeps anything here yet."
        row={(o) => (
          <tr data-org={o.org}>
            <td>{o.org}</td>
            <td class="num" data-bytes={String(o.bytes)}>
              {bytes(o.bytes)} <span class="muted small">({plural(o.paths, "path")})</span>
            </td>
            <td class="num">
              {o.quotaBytes === null ? <span class="muted">none</span> : bytes(o.quotaBytes)}
            </td>
            <td class="small">
              newest {plural(o.keepEvaluations, "evaluation")} per jobset, channel points of{" "}
              {o.keepChannelDays} days
            </td>
          </tr>
        )}
      />
    </Card>
  );
};
