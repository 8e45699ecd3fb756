// A definition as the text of an editable definition module (what `beamix import` writes):
// a header comment saying what the package is, then `export default { ... } satisfies Definition;`
// with every field spelled out, so a user sees what can be changed.
//
// Type checking without a runtime dependency: the module's only import is `import type`,
// which TypeScript semantics always erase (Node strips it before running the file), so the
// module loads from any directory even when the path it names does not exist there. The path
// is this beamix's own src/derivation/definition.ts, absolute, so an editor or
// `tsc --noEmit --strict --module nodenext --allowImportingTsExtensions FILE` (with @types/node
// reachable, e.g. --typeRoots BEAMIX/node_modules/@types --types node) checks the object against
// the Definition type wherever the module lives on this machine; test/import-render.test.ts
// runs exactly that. With `typesPath: null` the module has no import and no `satisfies`.
import { configToJson } from "../derivation/config.ts";
import type { Definition } from "../derivation/definition.ts";

export interface ModuleNotes {
  title: string; // first line, e.g. "trellis 0.9.0, a Hex package"
  description?: string;
  licenses?: readonly string[];
  links?: readonly (readonly [string, string])[]; // [title, url]
  sourceUrl?: string; // where the tarball comes from
  buildTools?: readonly string[]; // what the package declares; buildSystem is Mix's choice among them
  requirements?: ReadonlyMap<string, string>; // input package -> its version requirement
  nativeToolsNote?: string; // why nativeInputs is what it is
  generatedBy: string;
  typesPath: string | null; // where `import type { Definition }` points; null: no import
}

const WIDTH = 100;
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

// Greedy word wrap; a word longer than the width (a URL) gets a line of its own, and a
// `quoted command` is kept on one line.
function wrap(line: string, width: number): string[] {
  const out: string[] = [];
  let cur = "";
  for (const word of line.match(/\S*`[^`]*`\S*|\S+/g) ?? []) {
    if (cur !== "" && cur.length + 1 + word.length > width) {
      out.push(cur);
      cur = word;
    } else cur = cur === "" ? word : `${cur} ${word}`;
  }
  out.push(cur);
  return out;
}

// `//` lines: a line terminator of any kind would end the comment, so every one splits a line.
// Text the registry gave (a description) keeps its own line breaks and is not re-wrapped.
function commentLines(text: string, indent = "", rewrap = false): string[] {
  return text
    .split(/\r\n|[\r\n\u2028\u2029]/)
    .map((l) => l.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "").trimEnd())
    .flatMap((l) => (rewrap ? wrap(l, WIDTH - indent.length - 3) : [l]))
    .map((l) => (l === "" ? `${indent}//` : `${indent}// ${l}`));
}

function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, " ").trim();
}

function quote(s: string): string {
  // JSON string syntax is valid JavaScript; U+2028/2029 are escaped so editors show one line.
  return JSON.stringify(s).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

function key(k: string): string {
  return IDENT.test(k) ? k : quote(k);
}

// A JavaScript literal for plain data: on one line when it fits, else one element per line.
// `lead` is how many characters precede it on its first line after the indent ("key: ").
export function literal(value: unknown, indent = "", lead = 0): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return quote(value);
    case "boolean":
      return String(value);
    case "number":
      if (!Number.isFinite(value)) throw new Error(`cannot write ${value} in a definition module`);
      return Object.is(value, -0) ? "-0" : String(value);
    case "bigint":
      return `${value}n`;
    case "object":
      break;
    default:
      throw new Error(`cannot write a ${typeof value} in a definition module`);
  }
  const inner = indent + "  ";
  let parts: string[];
  let open: string;
  let close: string;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    parts = value.map((v) => literal(v, inner));
    [open, close] = ["[", "]"];
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new Error("only plain objects can be written in a definition module");
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return "{}";
    parts = entries.map(([k, v]) => `${key(k)}: ${literal(v, inner, key(k).length + 2)}`);
    [open, close] = ["{ ", " }"];
  }
  const flat = `${open}${parts.join(", ")}${close}`;
  if (!flat.includes("\n") && indent.length + lead + flat.length + 1 <= WIDTH) return flat;
  return `${open.trim()}\n${parts.map((p) => `${inner}${p},`).join("\n")}\n${indent}${close.trim()}`;
}

function header(notes: ModuleNotes): string[] {
  const lines = commentLines(notes.title);
  if (notes.description?.trim()) lines.push("//", ...commentLines(notes.description.trim()));
  const facts: string[] = [];
  if (notes.licenses) facts.push(`Licenses: ${notes.licenses.length ? notes.licenses.map(oneLine).join(", ") : "none declared"}`);
  for (const [title, url] of notes.links ?? []) facts.push(`Link: ${oneLine(title)} ${oneLine(url)}`);
  if (notes.sourceUrl) facts.push(`Tarball: ${oneLine(notes.sourceUrl)}`);
  if (facts.length) lines.push("//", ...facts.flatMap((f) => commentLines(f)));
  lines.push("//", ...commentLines(notes.generatedBy, "", true));
  return lines;
}

function inputLines(def: Definition, notes: ModuleNotes): string[] {
  if (def.inputs.length === 0) return ["  inputs: [],"];
  const lines: string[] = [];
  if (def.inputs.some((i) => i.optional)) lines.push("  // An optional input is used only when something else puts it in the closure (Mix's rule).");
  if (notes.requirements?.size) lines.push("  // Each comment is the release's requirement on the input.");
  lines.push("  inputs: [");
  for (const input of def.inputs) {
    const req = notes.requirements?.get(input.name);
    lines.push(`    ${literal({ ...input }, "    ")},${req ? ` // ${oneLine(req)}` : ""}`);
  }
  lines.push("  ],");
  return lines;
}

export function renderDefinitionModule(def: Definition, notes: ModuleNotes): string {
  const a = def.arguments;
  const lines = [...header(notes), ""];
  if (notes.typesPath !== null) {
    lines.push(
      "// Erased when the module is loaded (it needs nothing at run time); it lets an editor or tsc",
      "// check this object against beamix's Definition type. Delete it and `satisfies Definition`",
      "// if beamix moves.",
      `import type { Definition } from ${quote(notes.typesPath)};`,
      "",
    );
  }
  lines.push(
    "export default {",
    `  name: ${quote(def.name)},`,
    `  version: ${quote(def.version)}, // a whole definition pins the package to this version`,
    `  app: ${quote(def.app)},`,
    `  source: ${literal({ ...def.source }, "  ", "source: ".length)},`,
  );
  const tools = notes.buildTools ? ` // build_tools: ${notes.buildTools.length ? notes.buildTools.map(oneLine).join(", ") : "none declared"}` : "";
  lines.push(`  buildSystem: ${quote(def.buildSystem)},${tools}`);
  lines.push(...inputLines(def, notes));
  if (def.buildInputs) lines.push(`  buildInputs: ${literal(def.buildInputs.map((i) => ({ ...i })), "  ", "buildInputs: ".length)}, // rebar3 plugins: build-only`);
  if (notes.nativeToolsNote) lines.push(...commentLines(notes.nativeToolsNote, "  ", true));
  lines.push(`  nativeInputs: ${literal(def.nativeInputs, "  ", "nativeInputs: ".length)},`);
  if (def.systemInputs) lines.push(`  systemInputs: ${literal(def.systemInputs.map((i) => ({ ...i })), "  ", "systemInputs: ".length)},`);
  if (def.precompiledNif) lines.push(`  precompiledNif: ${quote(def.precompiledNif)},`);
  const args = { mixEnv: a.mixEnv, env: a.env, check: a.check, phases: a.phases, patches: a.patches };
  lines.push("  arguments: {");
  for (const [k, v] of Object.entries(args)) lines.push(`    ${k}: ${literal(v, "    ", k.length + 2)},`);
  // Compile-time config is written in the JSON form of terms that definition files use
  // (src/derivation/config.ts). The Definition type holds the terms themselves, so a non-empty
  // config is cast for the type checker; validation reads the JSON form.
  const config = literal(configToJson(a.compileConfig), "    ", "compileConfig: ".length);
  const cast = notes.typesPath !== null && Object.keys(a.compileConfig).length > 0 ? ` as unknown as Definition["arguments"]["compileConfig"]` : "";
  lines.push(`    compileConfig: ${config}${cast},`);
  lines.push("  },");
  lines.push(notes.typesPath !== null ? "} satisfies Definition;" : "};");
  return lines.join("\n") + "\n";
}
