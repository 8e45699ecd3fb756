// `beamix graph --format html`: the closure's reference graph as one self-contained page. Items
// are laid out in columns by depth (roots on the left, what they need to the right); clicking an
// item highlights its closure and lists it; the search box dims items whose name does not match.
import type { ClosureGraph } from "../inspect/graph.ts";
import { escapeHtml, FORMAT_BYTES_JS, htmlPage, jsonScript } from "./html.ts";

const STYLE = `
svg { border: 1px solid #ddd; background: #fcfcfc; }
.node rect { fill: #eef3fb; stroke: #6b8cc7; }
.node.root rect { stroke-width: 2.5; }
.node.dim { opacity: .25; }
.node.on rect { fill: #ffe9a8; stroke: #c49000; }
.node text { font-size: 12px; pointer-events: none; }
.edge { stroke: #9aa; fill: none; marker-end: url(#arrow); }
.edge.on { stroke: #c49000; stroke-width: 2; }
#details { margin-top: .8em; }
`;

const SCRIPT = `${FORMAT_BYTES_JS}
const g = JSON.parse(document.getElementById("graph-data").textContent);
const byId = new Map(g.nodes.map((n) => [n.id, n]));
const out = new Map(g.nodes.map((n) => [n.id, []]));
for (const e of g.edges) out.get(e.from).push(e.to);
// Depth: the longest chain of references from a root, so every edge points right.
const depth = new Map();
const depthOf = (id, seen = new Set()) => {
  if (depth.has(id)) return depth.get(id);
  let d = 0;
  for (const n of g.nodes) if (out.get(n.id).includes(id) && !seen.has(n.id)) d = Math.max(d, depthOf(n.id, new Set([...seen, id])) + 1);
  depth.set(id, d);
  return d;
};
g.nodes.forEach((n) => depthOf(n.id));
const columns = [];
for (const n of [...g.nodes].sort((a, b) => a.name.localeCompare(b.name))) (columns[depth.get(n.id)] ??= []).push(n);
const W = 190, H = 34, GX = 70, GY = 18, pos = new Map();
columns.forEach((col, c) => col.forEach((n, r) => pos.set(n.id, { x: 20 + c * (W + GX), y: 20 + r * (H + GY) })));
const svgNS = "http://www.w3.org/2000/svg";
const svg = document.getElementById("graph");
svg.setAttribute("width", 40 + columns.length * (W + GX));
svg.setAttribute("height", 40 + Math.max(...columns.map((c) => c.length)) * (H + GY));
const el = (name, attrs, parent) => { const e = document.createElementNS(svgNS, name); for (const k in attrs) e.setAttribute(k, attrs[k]); parent.appendChild(e); return e; };
const edges = g.edges.map((e) => {
  const a = pos.get(e.from), b = pos.get(e.to);
  return { e, line: el("path", { class: "edge", d: "M" + (a.x + W) + "," + (a.y + H / 2) + " C" + (a.x + W + GX / 2) + "," + (a.y + H / 2) + " " + (b.x - GX / 2) + "," + (b.y + H / 2) + " " + b.x + "," + (b.y + H / 2) }, svg) };
});
const nodes = new Map();
for (const n of g.nodes) {
  const p = pos.get(n.id);
  const grp = el("g", { class: "node" + (n.root ? " root" : ""), transform: "translate(" + p.x + "," + p.y + ")", "data-id": n.id, tabindex: "0" }, svg);
  el("rect", { width: W, height: H, rx: 5 }, grp);
  el("text", { x: 8, y: 14 }, grp).textContent = n.name + " " + n.version;
  el("text", { x: 8, y: 28, class: "muted" }, grp).textContent = formatBytes(n.size);
  el("title", {}, grp).textContent = n.path;
  grp.addEventListener("click", () => select(n.id));
  nodes.set(n.id, grp);
}
const closureOf = (id) => { const seen = new Set([id]), todo = [id]; while (todo.length) for (const r of out.get(todo.pop())) if (!seen.has(r)) { seen.add(r); todo.push(r); } return seen; };
function select(id) {
  const c = closureOf(id);
  for (const [nid, grp] of nodes) grp.classList.toggle("on", c.has(nid));
  for (const { e, line } of edges) line.classList.toggle("on", c.has(e.from) && c.has(e.to));
  const items = [...c].map((x) => byId.get(x));
  const total = items.reduce((s, n) => s + n.size, 0);
  const d = document.getElementById("details");
  d.textContent = "";
  const h = document.createElement("p");
  h.textContent = byId.get(id).name + " " + byId.get(id).version + ": " + items.length + " items in its closure, " + formatBytes(total);
  d.appendChild(h);
  const ul = document.createElement("ul");
  for (const n of items.sort((a, b) => a.name.localeCompare(b.name))) { const li = document.createElement("li"); li.textContent = n.name + " " + n.version + " (" + formatBytes(n.size) + ")"; ul.appendChild(li); }
  d.appendChild(ul);
}
document.getElementById("search").addEventListener("input", (ev) => {
  const q = ev.target.value.trim().toLowerCase();
  for (const [nid, grp] of nodes) grp.classList.toggle("dim", q !== "" && !byId.get(nid).name.toLowerCase().includes(q));
});
document.getElementById("summary").textContent = g.nodes.length + " items, " + g.edges.length + " references, " + formatBytes(g.nodes.reduce((s, n) => s + n.size, 0));
`;

export function graphPage(g: ClosureGraph, title: string): string {
  const body = `<h1>Closure of ${escapeHtml(title)}</h1>
<p id="summary"></p>
<p><input type="search" id="search" placeholder="filter by package name"> <span class="muted">click an item to see its closure</span></p>
<svg id="graph" xmlns="http://www.w3.org/2000/svg"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#9aa"/></marker></defs></svg>
<div id="details"></div>`;
  return htmlPage({ title: `beamix graph: ${title}`, body, style: STYLE, script: SCRIPT, data: jsonScript("graph-data", g) });
}
