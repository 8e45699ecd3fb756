// `--timeline FILE.html`: the run's timeline as one self-contained page. One row per package,
// bars over a common time axis: waiting for a build slot, downloading a substitute, each build
// phase, registering; a table beneath with the numbers, slowest first. Clicking a bar or a row
// says what it was and how long it took.
import { escapeHtml, htmlPage } from "./html.ts";
import type { Span, Timeline } from "./timeline.ts";

const STYLE = `
.axis, .row { display: grid; grid-template-columns: 16em 1fr; align-items: center; }
.row { height: 22px; border-bottom: 1px solid #f0f0f0; cursor: pointer; }
.row:hover { background: #f7f7f7; }
.track { position: relative; height: 16px; }
.bar { position: absolute; top: 0; height: 16px; min-width: 2px; box-sizing: border-box; border-right: 1px solid #fff; }
.bar.queued { background: #ddd; top: 5px; height: 6px; }
.bar.substitute { background: #5aa469; }
.bar.build { background: #9db7e6; }
.bar.phase:nth-of-type(odd) { background: #4f7fd1; }
.bar.phase:nth-of-type(even) { background: #2f5fb3; }
.bar.register { background: #e0a43a; }
.bar.failed { background: #d9534f; }
.ticks { position: relative; height: 1.4em; color: #777; font-size: 12px; }
.ticks span { position: absolute; transform: translateX(-50%); }
.legend span { display: inline-block; margin-right: 1em; }
.legend i { display: inline-block; width: 1em; height: .8em; margin-right: .3em; vertical-align: middle; }
#details { min-height: 1.5em; margin: .6em 0; font-weight: 600; }
`;

const SCRIPT = `
const details = document.getElementById("details");
for (const el of document.querySelectorAll("[data-say]")) el.addEventListener("click", (ev) => { ev.stopPropagation(); details.textContent = el.dataset.say; });
`;

const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function spanSay(row: string, s: Span): string {
  return `${row}: ${s.label}, ${secs(s.end - s.start)} (from ${secs(s.start)} to ${secs(s.end)})`;
}

export function timelinePage(t: Timeline): string {
  const total = Math.max(t.durationMs, 1);
  const pct = (ms: number) => `${((100 * ms) / total).toFixed(3)}%`;
  const step = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600].map((s) => s * 1000).find((s) => total / s <= 10) ?? 1200_000;
  const ticks: string[] = [];
  for (let at = 0; at <= total; at += step) ticks.push(`<span style="left:${pct(at)}">${(at / 1000).toFixed(step < 1000 ? 1 : 0)} s</span>`);
  const busy = (r: Timeline["rows"][number]) => r.spans.filter((s) => s.kind === "build" || s.kind === "substitute").reduce((sum, s) => sum + s.end - s.start, 0);
  const waited = (r: Timeline["rows"][number]) => r.spans.filter((s) => s.kind === "queued").reduce((sum, s) => sum + s.end - s.start, 0);
  const rows = t.rows
    .map((r) => {
      const bars = r.spans
        .filter((s) => s.kind !== "build" || !r.spans.some((x) => x.kind === "phase"))
        .map((s) => `<div class="bar ${s.kind}" style="left:${pct(s.start)};width:${pct(s.end - s.start)}" title="${escapeHtml(spanSay(r.label, s))}" data-say="${escapeHtml(spanSay(r.label, s))}"></div>`)
        .join("");
      const say = `${r.label}: ${r.result}${busy(r) ? ` in ${secs(busy(r))}` : ""}${waited(r) ? `, after waiting ${secs(waited(r))} for a build slot` : ""}`;
      return `<div class="row" data-package="${escapeHtml(r.label)}" data-say="${escapeHtml(say)}"><div>${escapeHtml(r.label)}</div><div class="track">${bars}</div></div>`;
    })
    .join("\n");
  const table = [...t.rows]
    .sort((a, b) => busy(b) - busy(a))
    .map((r) => {
      const phases = r.spans.filter((s) => s.kind === "phase").map((s) => `${s.label} ${secs(s.end - s.start)}`).join(", ");
      return `<tr><td>${escapeHtml(r.label)}</td><td>${r.result}</td><td class="num">${busy(r) ? secs(busy(r)) : ""}</td><td class="num">${waited(r) ? secs(waited(r)) : ""}</td><td>${escapeHtml(phases)}</td></tr>`;
    })
    .join("\n");
  const count = (what: string) => t.rows.filter((r) => r.result === what).length;
  const body = `<h1>${escapeHtml(t.title)}</h1>
<p>Started ${escapeHtml(t.startedAt)}, took ${secs(t.durationMs)}: ${count("built")} built, ${count("substituted")} substituted, ${count("present")} already present, ${count("failed")} failed.</p>
<p class="legend"><span><i class="bar queued" style="position:static;display:inline-block"></i>waiting for a build slot</span><span><i style="background:#5aa469"></i>substitute</span><span><i style="background:#4f7fd1"></i>build phase</span><span><i style="background:#e0a43a"></i>register</span><span><i style="background:#d9534f"></i>failed</span></p>
<div id="details">Click a bar or a package.</div>
<div class="axis"><div></div><div class="ticks">${ticks.join("")}</div></div>
<div id="rows">
${rows}
</div>
<h2>Packages, longest first</h2>
<table id="packages"><thead><tr><th>package</th><th>result</th><th>work</th><th>waited</th><th>phases</th></tr></thead><tbody>
${table}
</tbody></table>`;
  return htmlPage({ title: t.title, body, style: STYLE, script: SCRIPT });
}
