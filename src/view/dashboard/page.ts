// The dashboard page: the cache's packages by name, each version with the toolchain it was built
// with (OTP, Elixir, target), its sizes, who signed it and its reproducibility verdict; the keys;
// a search box (also ?q= for a link or a browser without scripts). Rendered on the server; the
// script only filters rows as one types.
import { formatBytes } from "../../inspect/closure.ts";
import { escapeHtml, htmlPage } from "../html.ts";
import type { ChallengeBook } from "./challenges.ts";
import type { CacheContents, DashboardItem } from "./packages.ts";

const STYLE = `
.verdict { padding: 0 .4em; border-radius: 3px; font-size: 12px; }
.verdict.consistent { background: #d8f0dc; color: #1d6b2c; }
.verdict.differs { background: #f8d7d6; color: #8a1f1b; }
.verdict.inconclusive, .verdict.none { background: #eee; color: #555; }
tr.package td { border-top: 2px solid #ddd; font-weight: 600; }
code { font-size: 12px; }
header p { margin: .2em 0; }
`;

const SCRIPT = `
const box = document.getElementById("search");
const rows = [...document.querySelectorAll("#packages tbody tr")];
const filter = () => {
  const q = box.value.trim().toLowerCase();
  let shown = 0;
  for (const r of rows) { const hit = q === "" || r.dataset.search.includes(q); r.hidden = !hit; if (hit && r.classList.contains("item")) shown++; }
  document.getElementById("shown").textContent = shown + " shown";
};
box.addEventListener("input", filter);
filter();
`;

// What the search box matches: name, version, item and toolchain (otp=27, elixir=1.18.4, …).
const searchText = (i: DashboardItem) => `${i.name} ${i.version} ${i.item} ${Object.entries(i.toolchain).map(([k, v]) => `${k}=${v}`).join(" ")}`.toLowerCase();

export function matches(i: DashboardItem, q: string): boolean {
  return q === "" || searchText(i).includes(q.toLowerCase());
}

export function dashboardPage(c: CacheContents, book: ChallengeBook, q: string, title: string): string {
  const items = c.items.filter((i) => matches(i, q));
  const byName = new Map<string, DashboardItem[]>();
  for (const i of c.items) byName.set(i.name, [...(byName.get(i.name) ?? []), i]);
  const verdicts = c.items.map((i) => book.get(i.drvHash)?.verdict ?? "none");
  const count = (v: string) => verdicts.filter((x) => x === v).length;
  const rows: string[] = [];
  for (const [name, versions] of byName) {
    const search = versions.map(searchText).join(" ");
    rows.push(`<tr class="package" data-search="${escapeHtml(search)}"><td colspan="8">${escapeHtml(name)} <span class="muted">(${versions.length} item${versions.length === 1 ? "" : "s"})</span></td></tr>`);
    for (const i of versions) {
      const v = book.get(i.drvHash);
      const verdict = v ? `<span class="verdict ${v.verdict}" title="${escapeHtml(`${v.sources.map((s) => `${s.origin}: ${s.state}`).join("; ")} (uploaded ${v.uploadedAt})`)}">${v.verdict}${v.debugInfoOnly ? " (debug info only)" : ""}</span>` : `<span class="verdict none">not challenged</span>`;
      const hidden = items.includes(i) ? "" : " hidden";
      rows.push(
        `<tr class="item" data-search="${escapeHtml(searchText(i))}" data-item="${escapeHtml(i.item)}"${hidden}><td>${escapeHtml(i.version)}</td><td>${escapeHtml(i.toolchain["otp-version"] ?? i.toolchain.otp ?? "?")}</td><td>${escapeHtml(i.toolchain.elixir ?? "–")}</td><td>${escapeHtml(i.toolchain.target ?? "?")}</td>` +
          `<td class="num">${formatBytes(i.narSize)}</td><td class="num">${i.fileSize === null ? "–" : formatBytes(i.fileSize)}</td><td>${i.signedBy.length ? escapeHtml(i.signedBy.join(", ")) : '<span class="muted">unsigned</span>'}</td><td>${verdict}</td></tr>`,
      );
    }
  }
  const keys = c.keys.length ? c.keys.map((k) => `<li><code>${escapeHtml(k.publicKey ?? k.name)}</code></li>`).join("") : "<li>none: records are not signed</li>";
  const total = c.items.reduce((s, i) => s + i.narSize, 0);
  const body = `<header><h1>${escapeHtml(title)}</h1>
<p id="summary">${c.items.length} items of ${byName.size} packages, ${formatBytes(total)} unpacked. Reproducibility: ${count("consistent")} consistent, ${count("differs")} differ, ${count("inconclusive")} inconclusive, ${count("none")} not challenged.</p>
<p>Signing keys:</p><ul id="keys">${keys}</ul>
${c.problems.length ? `<p>Unreadable records:</p><ul id="problems">${c.problems.map((p) => `<li>${escapeHtml(p)}</li>`).join("")}</ul>` : ""}
</header>
<form method="get" action="/"><input type="search" id="search" name="q" value="${escapeHtml(q)}" placeholder="search: name, version, otp=27, elixir=1.18…" autocomplete="off"> <span id="shown" class="muted">${items.length} shown</span></form>
<table id="packages"><thead><tr><th>version</th><th>OTP</th><th>Elixir</th><th>target</th><th>size</th><th>archive</th><th>signed by</th><th>reproducible?</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody></table>
<p class="muted">JSON: <a href="/api/packages">/api/packages</a>, <a href="/api/challenges">/api/challenges</a>.</p>`;
  return htmlPage({ title, body, style: STYLE, script: SCRIPT });
}
