// The fleet pages' part of the stylesheet (channels, profiles, machines, Storehouse, builders); style.ts appends it.
export const fleetStylesheet = `
.chips { display: inline-flex; flex-wrap: wrap; gap: 4px; }
.chip { display: inline-block; padding: 0 8px; border-radius: 999px; font: 600 12px/20px var(--mono); white-space: nowrap; }
.chip.add { background: var(--ok-bg); color: var(--ok); }
.chip.del { background: var(--bad-bg); color: var(--bad); text-decoration: line-through; text-decoration-thickness: 1px; }
.chip.chg { background: var(--run-bg); color: var(--run); }
.rollout .bar { display: block; width: 100%; height: 14px; border-radius: 7px; overflow: hidden; margin-bottom: 10px; }
.rollout .legend { flex-wrap: wrap; }
.rollout .legend span::before { background: var(--sw); }
.sw0 { --sw: #12b76a; } .sw1 { --sw: #3b5bdb; } .sw2 { --sw: #f59f00; } .sw3 { --sw: #ae3ec9; } .sw4 { --sw: #22b8cf; }
.sw5 { --sw: #e8590c; } .sw6 { --sw: #868e96; } .swn { --sw: #d0d5dd; }
.rollout .legend span { color: var(--ink); }
.stat .v.small-v { font-size: 14px; font-weight: 600; padding-top: 6px; }
.stat .v.mid-v { font-size: 15px; padding-top: 4px; }
.stat .v .pill { margin-left: 8px; vertical-align: middle; }
.gap { height: 6px; }
.card h3.sp { margin-top: 16px; }
.card p.note { margin: 10px 0 6px; }
.why .reason { color: var(--ink); font-style: italic; }
.why .cmd { max-width: 360px; }
td.w-commit { max-width: 300px; }
td.w-path { max-width: 280px; }
td.w-list { max-width: 320px; }
.hname { font-family: var(--mono); font-size: 20px; }
.subs { display: flex; flex-wrap: wrap; gap: 4px; }
.tag { display: inline-block; padding: 0 8px; border-radius: 6px; background: var(--mute-bg); font: 12px/20px var(--mono); color: #344054; white-space: nowrap; }
.tag .k { color: var(--muted); margin-right: 4px; font-family: var(--sans); }
table.inner { width: auto; }
table.inner td { padding: 2px 12px 2px 0; border: 0; background: none; }
form.rollback { display: inline; margin: 0; }
.kv { display: grid; grid-template-columns: 160px 1fr; gap: 8px 16px; }
.kv .k { color: var(--muted); }
.building { font-family: var(--mono); font-size: 12.5px; }
.building a { font-weight: 600; }
table.machines { margin-top: 12px; }
`;
