// Pieces the fleet pages share: what a change did (added/removed/changed chips), a rollout bar, sizes, store
// path names. Styling beyond the shared stylesheet is inline and small.
import type { FC } from "hono/jsx";
import type { PackageChanges } from "../../lib/api/channels.js";

/** `/nix/store/<hash>-hello-1.0` → `hello-1.0`. */
export const storeName = (path: string | null | undefined): string =>
  path ? (/^\/nix\/store\/[0-9a-z]{32}-(.+)$/.exec(path)?.[1] ?? path) : "";

/** `/nix/store/<hash>-user-environment` → `abcd1234…-user-environment`: enough to tell generations apart. */
export const shortStorePath = (path: string | null | undefined): string => {
  const m = path ? /^\/nix\/store\/([0-9a-z]{32})-(.+)$/.exec(path) : null;
  return m ? `${m[1]?.slice(0, 8)}…-${m[2]}` : (path ?? "");
};

/** `…-hello.drv` → `hello`. */
export const drvName = (drvPath: string): string => storeName(drvPath).replace(/\.drv$/, "");

/** 1536 → "1.5 KiB" (the pages' name for it). */
export { formatBytes as bytes } from "../../lib/bytes.js";

export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const chip = (cls: string, sign: string, name: string, title: string) => (
  <span class={`chip ${cls}`} title={title}>
    {sign} {name}
  </span>
);

/** Added, removed and changed names as chips; "no package changed" when all are empty. Capped, with a "+N more". */
export const ChangeChips: FC<{ changes: PackageChanges; max?: number }> = ({ changes, max = 12 }) => {
  const all = [
    ...changes.added.map((n) => chip("add", "+", n, "added")),
    ...changes.removed.map((n) => chip("del", "−", n, "removed")),
    ...changes.changed.map((n) => chip("chg", "~", n, "changed: another store path")),
  ];
  if (all.length === 0) return <span class="muted small">no package changed</span>;
  return (
    <span
      class="chips"
      data-added={changes.added.join(" ")}
      data-removed={changes.removed.join(" ")}
      data-changed={changes.changed.join(" ")}
    >
      {all.slice(0, max)}
      {all.length > max ? <span class="muted small">+{all.length - max} more</span> : null}
    </span>
  );
};

/** Swatches (fleet-style.ts): 0 is the live generation's green, 1–6 the others, n "none yet". */
const SWATCHES = ["#12b76a", "#3b5bdb", "#f59f00", "#ae3ec9", "#22b8cf", "#e8590c", "#868e96"];

export interface RolloutCount {
  generation: number | null;
  machines: number;
}

/** One bar, a segment per generation (the live one green), with a legend under it. SVG: no inline styles (CSP). */
export const RolloutBar: FC<{ counts: RolloutCount[]; live: number | null }> = ({ counts, live }) => {
  const total = counts.reduce((n, c) => n + c.machines, 0);
  if (total === 0) return <div class="muted">No machine follows this profile yet.</div>;
  let other = 0;
  const swatch = counts.map((c) =>
    c.generation === null ? -1 : c.generation === live ? 0 : 1 + (other++ % 6),
  );
  const label = (g: number | null) =>
    g === null ? "none yet" : `generation ${g}${g === live ? " (live)" : ""}`;
  let x = 0;
  return (
    <div class="rollout">
      <svg
        class="bar"
        viewBox="0 0 1000 14"
        preserveAspectRatio="none"
        role="img"
        aria-label={counts.map((c) => `${c.machines} on ${label(c.generation)}`).join(", ")}
      >
        {counts.map((c, i) => {
          const w = (1000 * c.machines) / total;
          const rect = (
            <rect
              x={String(x)}
              y="0"
              width={String(w)}
              height="14"
              fill={SWATCHES[swatch[i] ?? -1] ?? "#d0d5dd"}
            >
              <title>{`${plural(c.machines, "machine")} on ${label(c.generation)}`}</title>
            </rect>
          );
          x += w;
          return rect;
        })}
      </svg>
      <div class="legend">
        {counts.map((c, i) => (
          <span
            class={(swatch[i] ?? -1) < 0 ? "swn" : `sw${swatch[i]}`}
            data-generation={c.generation === null ? "none" : String(c.generation)}
            data-machines={String(c.machines)}
          >
            {plural(c.machines, "machine")} on {label(c.generation)}
          </span>
        ))}
      </div>
    </div>
  );
};

/** Rows a list page shows before "N older … not shown" (the JSON twin has them all). */
export const PAGE_ROWS = 100;

/** The newest `PAGE_ROWS` of an oldest-first list, newest first, and how many were left out. */
export function newestFirst<T>(oldestFirst: readonly T[], rows = PAGE_ROWS): { shown: T[]; hidden: number } {
  const shown = oldestFirst.slice(-rows).reverse();
  return { shown, hidden: oldestFirst.length - shown.length };
}

/** The line under a capped table: how many older rows there are and where to see them all. */
export const OlderRows: FC<{ hidden: number; what: string; hint: string }> = ({ hidden, what, hint }) =>
  hidden > 0 ? (
    <div class="pager">
      {plural(hidden, `older ${what}`, `older ${what}s`)} not shown: {hint}
    </div>
  ) : null;
