// What every page beamix writes or serves shares: escaping, data embedded for the page's script,
// and one self-contained document (no external script, style, font or image: pages are opened
// from disk or served on machines without network).
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// JSON inside <script type="application/json">: "<" escaped so no "</script>" can end it early.
export function jsonScript(id: string, value: unknown): string {
  return `<script type="application/json" id="${id}">${JSON.stringify(value).replace(/</g, "\\u003c")}</script>`;
}

const BASE_STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .6em; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: .2em .8em .2em 0; border-bottom: 1px solid #eee; vertical-align: top; }
th { border-bottom: 2px solid #ccc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #777; }
input[type=search] { font: inherit; padding: .2em .4em; width: 20em; }
`;

export function htmlPage(o: { title: string; body: string; style?: string; script?: string; data?: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(o.title)}</title>
<style>${BASE_STYLE}${o.style ?? ""}</style>
</head>
<body>
${o.body}
${o.data ?? ""}
${o.script ? `<script>${o.script}</script>` : ""}
</body>
</html>
`;
}

// Bytes as people read them, in the page's script (the same rule as src/inspect/closure.ts).
export const FORMAT_BYTES_JS = `function formatBytes(n) {
  if (n < 1024) return n + " B";
  const units = ["KiB", "MiB", "GiB", "TiB"]; let v = n, u = "B";
  for (const x of units) { if (v < 1024) break; v /= 1024; u = x; }
  return v.toFixed(1) + " " + u;
}`;
