// The one stylesheet of the web pages, served at /-/style.<hash>.css (see assets.ts). Hand-written; no framework.
import { fleetStylesheet } from "./fleet-style.js";

export const stylesheet = `
:root {
  --bg: #f6f7f9; --panel: #fff; --ink: #1c2330; --muted: #667085; --line: #e4e7ec; --line2: #f0f2f5;
  --brand: #3b5bdb; --brand-ink: #fff; --head: #111827;
  --ok: #067647; --ok-bg: #dcfae6; --bad: #b42318; --bad-bg: #fee4e2; --run: #175cd3; --run-bg: #d1e9ff;
  --wait: #93370d; --wait-bg: #fef0c7; --mute-bg: #eaecf0;
  --mono: ui-monospace, "SFMono-Regular", "JetBrains Mono", Menlo, Consolas, "DejaVu Sans Mono", monospace;
  --sans: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", Arial, sans-serif;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.5 var(--sans); }
a { color: var(--brand); text-decoration: none; }
a:hover { text-decoration: underline; }
code, .mono { font-family: var(--mono); font-size: 12.5px; }
h1 { font-size: 22px; line-height: 1.25; margin: 0; font-weight: 650; letter-spacing: -0.01em; }
h2 { font-size: 15px; margin: 0 0 10px; font-weight: 650; }
h3 { font-size: 13px; margin: 0 0 6px; font-weight: 650; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
p { margin: 0 0 10px; }
.topbar { background: var(--head); color: #d0d5dd; }
.topbar .in { max-width: 1180px; margin: 0 auto; padding: 0 24px; height: 52px; display: flex; align-items: center; gap: 24px; }
.brand { color: #fff; font-weight: 700; font-size: 16px; letter-spacing: -0.02em; display: flex; align-items: center; gap: 8px; }
.brand:hover { text-decoration: none; }
.brand .logo { width: 22px; height: 22px; display: block; }
.topnav { display: flex; gap: 4px; flex: 1; }
.topnav a { color: #d0d5dd; padding: 6px 10px; border-radius: 6px; }
.topnav a:hover, .topnav a.on { background: #1f2937; color: #fff; text-decoration: none; }
.who { display: flex; align-items: center; gap: 10px; font-size: 13px; }
.who form { margin: 0; }
.linkbtn { background: none; border: 0; color: #d0d5dd; cursor: pointer; font: inherit; padding: 4px 8px; border-radius: 6px; }
.linkbtn:hover { background: #1f2937; color: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 24px 48px; }
.crumbs { font-size: 13px; color: var(--muted); margin-bottom: 6px; }
.crumbs a { color: var(--muted); }
.crumbs span.sep { margin: 0 6px; color: #98a2b3; }
.pagehead { display: flex; align-items: flex-start; justify-content: space-between; gap: 16px; margin-bottom: 18px; }
.pagehead .sub { color: var(--muted); margin-top: 4px; }
.tabs { display: flex; gap: 2px; border-bottom: 1px solid var(--line); margin: -6px 0 18px; }
.tabs a { padding: 8px 12px; color: var(--muted); border-bottom: 2px solid transparent; margin-bottom: -1px; }
.tabs a.on { color: var(--ink); border-color: var(--brand); font-weight: 600; }
.tabs a:hover { text-decoration: none; color: var(--ink); }
.tabs .n { background: var(--mute-bg); border-radius: 9px; padding: 0 7px; font-size: 12px; margin-left: 4px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; margin-bottom: 18px; }
.card > .hd { padding: 12px 16px; border-bottom: 1px solid var(--line); display: flex; align-items: center; justify-content: space-between; gap: 12px; }
.card > .hd h2 { margin: 0; }
.card > .bd { padding: 14px 16px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 14px; margin-bottom: 18px; }
a.stat:hover { text-decoration: none; border-color: #91a7ff; }
a.stat .v { font-size: 15px; color: var(--brand); }
a.stat .d { color: var(--muted); font-size: 12.5px; }
img.badge { vertical-align: middle; margin-left: 6px; }
.tabs.inner { margin: 0; padding: 0 8px; }
.stat { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; }
.stat .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.stat .v { font-size: 20px; font-weight: 650; margin-top: 2px; }
table { width: 100%; border-collapse: collapse; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; padding: 8px 16px; border-bottom: 1px solid var(--line); background: #fafbfc; }
td { padding: 9px 16px; border-bottom: 1px solid var(--line2); vertical-align: top; }
tr:last-child td { border-bottom: 0; }
tbody tr:hover td { background: #fafbff; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
.small { font-size: 12.5px; }
.nowrap { white-space: nowrap; }
.trunc { max-width: 420px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.pill { display: inline-flex; align-items: center; gap: 5px; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600; white-space: nowrap; background: var(--mute-bg); color: #344054; }
.pill::before { content: ""; width: 6px; height: 6px; border-radius: 50%; background: currentColor; }
.pill.ok { background: var(--ok-bg); color: var(--ok); }
.pill.bad { background: var(--bad-bg); color: var(--bad); }
.pill.run { background: var(--run-bg); color: var(--run); }
.pill.run::before { animation: pulse 1.2s ease-in-out infinite; }
.pill.wait { background: var(--wait-bg); color: var(--wait); }
@keyframes pulse { 50% { opacity: .25; } }
.counts { display: inline-flex; gap: 10px; font-variant-numeric: tabular-nums; font-size: 13px; }
.counts .c { display: inline-flex; align-items: center; gap: 4px; }
.counts .c::before { content: ""; width: 8px; height: 8px; border-radius: 2px; background: currentColor; }
.c.ok { color: var(--ok); } .c.bad { color: var(--bad); } .c.run { color: var(--run); } .c.wait { color: #b54708; } .c.zero { color: #98a2b3; }
.btn { display: inline-flex; align-items: center; gap: 6px; border: 1px solid var(--line); background: var(--panel); color: var(--ink); padding: 6px 12px; border-radius: 7px; font: 600 13px var(--sans); cursor: pointer; }
.btn:hover { background: #f2f4f7; text-decoration: none; }
.btn.primary { background: var(--brand); border-color: var(--brand); color: var(--brand-ink); }
.btn.primary:hover { background: #364fc7; }
.btn.danger { color: var(--bad); border-color: #fda29b; }
.btn.danger:hover { background: var(--bad-bg); }
.actions { display: flex; gap: 8px; align-items: center; }
.actions form { margin: 0; }
dl.facts { display: grid; grid-template-columns: 140px 1fr; gap: 6px 16px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
.cmp { display: grid; grid-template-columns: repeat(5, 1fr); gap: 0; }
.cmp > div { padding: 12px 16px; border-right: 1px solid var(--line2); }
.cmp > div:last-child { border-right: 0; }
.cmp .k { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.cmp .v { font-size: 20px; font-weight: 650; }
.cmp .bad .v { color: var(--bad); } .cmp .ok .v { color: var(--ok); }
.cmp ul { list-style: none; margin: 6px 0 0; padding: 0; font-size: 12.5px; }
.cmp li { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.empty { padding: 28px 16px; text-align: center; color: var(--muted); }
.pager { display: flex; gap: 8px; align-items: center; justify-content: flex-end; padding: 10px 16px; border-top: 1px solid var(--line); font-size: 13px; color: var(--muted); }
details.prob { border-bottom: 1px solid var(--line2); }
details.prob summary { padding: 9px 16px; cursor: pointer; list-style: none; display: flex; gap: 10px; align-items: center; }
details.prob summary::-webkit-details-marker { display: none; }
details.prob summary::before { content: "▸"; color: var(--muted); }
details.prob[open] summary::before { content: "▾"; }
details.prob ul { margin: 0; padding: 0 16px 12px 40px; }
details.prob li { margin: 4px 0; }
.hint { color: var(--muted); }
.graph { display: block; width: 100%; height: auto; }
.graph .ok { fill: #32d583; } .graph .bad { fill: #f97066; } .graph .run { fill: #53b1fd; } .graph .wait { fill: #fdb022; } .graph .none { fill: #d0d5dd; }
.graph text { font: 10px var(--sans); fill: #98a2b3; }
.graph line { stroke: #eaecf0; }
.legend { display: flex; gap: 14px; font-size: 12px; color: var(--muted); }
.legend span::before { content: ""; display: inline-block; width: 9px; height: 9px; border-radius: 2px; margin-right: 5px; background: currentColor; vertical-align: -1px; }
.legend .ok { color: #32d583; } .legend .bad { color: #f97066; } .legend .run { color: #53b1fd; } .legend .wait { color: #fdb022; }
.copy { display: flex; gap: 8px; align-items: center; background: #f8f9fb; border: 1px solid var(--line); border-radius: 7px; padding: 6px 8px 6px 12px; font-family: var(--mono); font-size: 12.5px; overflow-x: auto; }
.copy code { flex: 1; white-space: nowrap; }
.log { background: #0d1117; color: #d0d7de; font: 12.5px/1.55 var(--mono); margin: 0; padding: 14px 16px; max-height: 70vh; overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; border-radius: 0 0 10px 10px; }
.log .err-line { background: rgba(248, 81, 73, .15); display: inline-block; width: 100%; }
.log .err-line.flashline { outline: 1px solid #f85149; }
.log .warn-line { background: rgba(210, 153, 34, .12); display: inline-block; width: 100%; }
.log .a-b { font-weight: 700; } .log .a-d { opacity: .7; } .log .a-i { font-style: italic; } .log .a-u { text-decoration: underline; }
.log .f0 { color: #6e7681; } .log .f1 { color: #ff7b72; } .log .f2 { color: #7ee787; } .log .f3 { color: #e3b341; }
.log .f4 { color: #79c0ff; } .log .f5 { color: #d2a8ff; } .log .f6 { color: #56d4dd; } .log .f7 { color: #f0f6fc; }
.log .f8 { color: #8b949e; } .log .f9 { color: #ffa198; } .log .f10 { color: #56d364; } .log .f11 { color: #f8e3a1; }
.log .f12 { color: #a5d6ff; } .log .f13 { color: #e2c5ff; } .log .f14 { color: #b3f0ff; } .log .f15 { color: #fff; }
.log .b0 { background: #484f58; } .log .b1 { background: #8e1519; } .log .b2 { background: #0f5323; } .log .b3 { background: #6c4a00; }
.log .b4 { background: #0d419d; } .log .b5 { background: #5a1e8c; } .log .b6 { background: #0a5561; } .log .b7 { background: #b1bac4; }
.loghd { display: flex; gap: 10px; align-items: center; }
.live { font-size: 12px; color: var(--run); font-weight: 600; }
.flash { padding: 10px 14px; border-radius: 8px; margin-bottom: 16px; background: var(--run-bg); color: #1849a9; }
.flash.bad { background: var(--bad-bg); color: var(--bad); }
.login { max-width: 420px; margin: 64px auto; }
.login .card .bd { padding: 22px 24px; }
.login h1 { margin-bottom: 6px; }
label { display: block; font-weight: 600; margin: 14px 0 6px; }
input[type=password], input[type=text] { width: 100%; padding: 8px 10px; border: 1px solid #d0d5dd; border-radius: 7px; font: 13px var(--mono); }
input:focus { outline: 2px solid #91a7ff; border-color: var(--brand); }
.errorpage { text-align: center; padding: 64px 0; }
.errorpage .code { font-size: 56px; font-weight: 700; color: #d0d5dd; }
footer { max-width: 1180px; margin: 0 auto; padding: 0 24px 32px; color: #98a2b3; font-size: 12px; }
@media (max-width: 760px) { .cmp { grid-template-columns: 1fr 1fr; } dl.facts { grid-template-columns: 1fr; } .topnav { display: none; } }
${fleetStylesheet}`;
