// Small pieces the pages share: status pills, times, durations, counts, and the CSRF field of action forms.
import type { Child, FC, PropsWithChildren } from "hono/jsx";
import type { Viewer } from "./viewer.js";

/** The hidden `_csrf` field every action form of a session carries (nothing for a Bearer viewer: none is needed). */
export const CsrfField: FC<{ viewer: Viewer | null }> = ({ viewer }) =>
  viewer?.session ? <input type="hidden" name="_csrf" value={viewer.session.csrf} /> : null;

/** A POST form with its CSRF field: `<ActionForm viewer={v} action="/acme/builds/3/cancel">…</ActionForm>`. */
export const ActionForm: FC<
  PropsWithChildren<{ viewer: Viewer | null; action: string; confirm?: string }>
> = (p) => (
  <form method="post" action={p.action}>
    <CsrfField viewer={p.viewer} />
    {p.children}
  </form>
);

export type Tone = "ok" | "bad" | "run" | "wait" | "mute";

const tones: Record<string, Tone> = {
  succeeded: "ok",
  cached: "ok",
  passing: "ok",
  failed: "bad",
  "dependency-failed": "bad",
  "timed-out": "bad",
  aborted: "bad",
  failing: "bad",
  running: "run",
  queued: "wait",
  cancelled: "mute",
  skipped: "mute",
};

export const toneOf = (state: string): Tone => tones[state] ?? "mute";

export const StatePill: FC<{ state: string; label?: string }> = ({ state, label }) => (
  <span class={`pill ${toneOf(state)}`} data-state={state}>
    {label ?? state}
  </span>
);

/** "3 min ago" with the exact time on hover; the ISO time stays in `datetime`. */
export const Time: FC<{ at: string | null | undefined; now?: number }> = ({ at, now }) => {
  if (!at) return <span class="muted">—</span>;
  return (
    <time datetime={at} title={at.replace("T", " ").replace(/\.\d+Z$/, " UTC")}>
      {ago(at, now ?? Date.now())}
    </time>
  );
};

export function ago(iso: string, now: number): string {
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (!Number.isFinite(s)) return iso;
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 30 * 86_400) return `${Math.floor(s / 86_400)} d ago`;
  return iso.slice(0, 10);
}

/** `1 m 12 s` between two ISO times (to now when `to` is missing and `live`). */
export function duration(from: string | null, to: string | null, now = Date.now()): string {
  if (!from) return "—";
  const ms = (to ? Date.parse(to) : now) - Date.parse(from);
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} m ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} m`;
}

export interface StateCounts {
  succeeded: number;
  failed: number;
  running: number;
  queued: number;
  cancelled: number;
}

/** Succeeded / failed / running / queued as coloured figures; zeros greyed. */
export const Counts: FC<{ counts: StateCounts | undefined }> = ({ counts }) => {
  if (!counts) return <span class="muted">—</span>;
  const c = (n: number, tone: string, label: string) => (
    <span class={`c ${n ? tone : "zero"}`} title={label}>
      {n}
    </span>
  );
  return (
    <span class="counts">
      {c(counts.succeeded, "ok", "succeeded")}
      {c(counts.failed, "bad", "failed")}
      {c(counts.running, "run", "running")}
      {c(counts.queued, "wait", "queued")}
    </span>
  );
};

/** What the colours of `Counts` mean. */
export const CountsLegend: FC = () => (
  <div class="legend">
    <span class="ok">succeeded</span>
    <span class="bad">failed</span>
    <span class="run">running</span>
    <span class="wait">queued</span>
  </div>
);

export const Card: FC<PropsWithChildren<{ title?: Child; tools?: Child; id?: string; flush?: boolean }>> = (
  p,
) => (
  <section class="card" id={p.id}>
    {p.title || p.tools ? (
      <div class="hd">
        {typeof p.title === "string" ? <h2>{p.title}</h2> : p.title}
        {p.tools ? <div class="actions">{p.tools}</div> : null}
      </div>
    ) : null}
    {p.flush ? p.children : <div class="bd">{p.children}</div>}
  </section>
);

/** A line to copy (a `nix-channel` command, a URL) with a Copy button. */
export const CopyLine: FC<{ text: string }> = ({ text }) => (
  <div class="copy">
    <code>{text}</code>
    <button class="btn" type="button" data-copy={text}>
      Copy
    </button>
  </div>
);

export const shortSha = (sha: string) => sha.slice(0, 8);
