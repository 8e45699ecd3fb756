// Terms printed exactly as Elixir 1.14's `inspect(term, limit: :infinity)` does (one line:
// `pretty: false`), which is what Mix writes into mix.lock; the inverse of literal.ts.
//
// Mapping to Term: strings and binaries are `binary`, atoms (including true/false/nil) are
// `atom`, charlists are lists of integers, keyword lists are lists of 2-tuples.
import { BeamixError } from "../errors.ts";
import { mapIterationOrder } from "../erlang/order.ts";
import { listView, type Term } from "../erlang/term.ts";
import { QUOTED_OPERATORS, UNQUOTED_OPERATORS, WORD_OPERATORS } from "./operators.ts";
import { utf8At } from "./utf8.ts";

// Inspect's default printable_limit: longer strings and charlists come out cut short
// (`"..." <> ...`), which cannot be read back; we refuse them instead.
const PRINTABLE_LIMIT = 4096;

// String.printable?/1 for one character.
function printableChar(cp: number): boolean {
  return (
    (cp >= 0x20 && cp <= 0x7e) ||
    (cp >= 7 && cp <= 13) ||
    cp === 27 ||
    cp === 127 ||
    (cp >= 0xa0 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

// Escapes inspect uses inside quotes (Code.Identifier.escape_map).
const ESCAPE_MAP: Record<number, string> = {
  7: "\\a", 8: "\\b", 127: "\\d", 27: "\\e", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v", 92: "\\\\",
};

const hex = (n: number, width: number): string => n.toString(16).toUpperCase().padStart(width, "0");

// Code.Identifier.escape_char: how a character outside the escape map is written.
function escapeChar(cp: number): string {
  if (cp === 0) return "\\0";
  if (cp === 0xfeff) return "\\uFEFF";
  if ((cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || cp >= 0x10000) {
    return String.fromCodePoint(cp);
  }
  if (cp < 0x100) return `\\x${hex(cp, 2)}`;
  return `\\x{${hex(cp, 4)}}`;
}

// Code.Identifier.escape(text, quote): the body of a quoted string, charlist or atom.
function escapeText(bytes: Uint8Array, quote: number): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b === quote) {
      out += "\\" + String.fromCharCode(b);
      i++;
    } else if (b === 0x23 && bytes[i + 1] === 0x7b) {
      out += "\\#{";
      i += 2;
    } else {
      const ch = utf8At(bytes, i);
      if (ch === null) {
        out += `\\x${hex(b, 2)}`;
        i++;
      } else {
        out += ESCAPE_MAP[ch.cp] ?? escapeChar(ch.cp);
        i += ch.len;
      }
    }
  }
  return out;
}

const OPERATOR_ATOMS = new Set([...UNQUOTED_OPERATORS, ...WORD_OPERATORS]);

// Macro.classify_atom: how an atom's name must be written.
function classifyAtom(name: string): "alias" | "unquoted" | "quoted" {
  if (QUOTED_OPERATORS.has(name) || name === "//") return "quoted";
  if (OPERATOR_ATOMS.has(name)) return "unquoted";
  if (/^Elixir(\.[A-Z][A-Za-z0-9_]*)*$/.test(name)) return "alias";
  // What Elixir's tokenizer reads as one identifier, alias or atom name.
  if (/^[A-Za-z_][A-Za-z0-9_@]*[?!]?$/.test(name)) return "unquoted";
  // Outside ASCII the answer depends on Unicode's identifier tables (UTS 39
  // Identifier_Status=Allowed: `:é` is bare, `:ƀ` is quoted), which JavaScript does not
  // carry. Such a name would only be quoted if it could not be an identifier at all.
  if (/^[\p{ID_Start}_][\p{ID_Continue}@]*[?!]?$/u.test(name) && /[^\x00-\x7f]/.test(name)) {
    throw new BeamixError(
      `cannot write the atom ${JSON.stringify(name)} as Elixir would: whether it needs quotes depends on Unicode identifier tables`,
    );
  }
  return "quoted";
}

// Macro.inspect_atom(:literal, atom)
export function inspectAtom(name: string): string {
  if (name === "nil" || name === "true" || name === "false") return name;
  switch (classifyAtom(name)) {
    case "alias":
      if (name === "Elixir" || name === "Elixir.Elixir" || name.startsWith("Elixir.Elixir.")) return name;
      return name.slice("Elixir.".length);
    case "quoted":
      return `:"${escapeText(Buffer.from(name, "utf8"), 0x22)}"`;
    case "unquoted":
      return `:${name}`;
  }
}

// Macro.inspect_atom(:key, atom): the `key:` of a keyword pair.
function inspectKey(name: string): string {
  switch (classifyAtom(name)) {
    case "alias":
      return `"${name}":`;
    case "quoted":
      return `"${escapeText(Buffer.from(name, "utf8"), 0x22)}":`;
    case "unquoted":
      return `${name}:`;
  }
}

function inspectBinary(b: Buffer): string {
  let i = 0;
  let chars = 0;
  let printable = true;
  while (i < b.length) {
    if (chars === PRINTABLE_LIMIT) {
      throw new BeamixError(
        `a string of more than ${PRINTABLE_LIMIT} characters cannot be written: Elixir's inspect would cut it short`,
      );
    }
    const ch = utf8At(b, i);
    if (ch === null || !printableChar(ch.cp)) {
      printable = false;
      break;
    }
    i += ch.len;
    chars++;
  }
  if (printable) return `"${escapeText(b, 0x22)}"`;
  return b.length === 0 ? "<<>>" : `<<${[...b].join(", ")}>>`;
}

// Inspect.List.keyword?/1
function isKeyword(items: Term[]): boolean {
  return items.every(
    (t) =>
      t.type === "tuple" && t.items.length === 2 && t.items[0].type === "atom" && !t.items[0].value.startsWith("Elixir."),
  );
}

function inspectPair(t: Term): string {
  if (t.type !== "tuple" || t.items[0].type !== "atom") throw new Error("not a keyword pair");
  return `${inspectKey(t.items[0].value)} ${inspectElixir(t.items[1])}`;
}

function inspectList(t: Term): string {
  const view = listView(t)!;
  const { items, tail } = view;
  if (items.length === 0 && tail === null) return "[]";
  if (tail === null) {
    // List.ascii_printable?(list, 4096): a charlist whose first 4096 elements are printable
    // ASCII is written as '...' (and cut short after 4096).
    const codes: number[] = [];
    for (const x of items.slice(0, PRINTABLE_LIMIT)) {
      if (x.type !== "integer") break;
      const n = Number(x.value);
      if (!((n >= 7 && n <= 13) || n === 27 || (n >= 32 && n <= 126))) break;
      codes.push(n);
    }
    if (codes.length === Math.min(items.length, PRINTABLE_LIMIT)) {
      if (items.length > PRINTABLE_LIMIT) {
        throw new BeamixError(
          `a charlist of more than ${PRINTABLE_LIMIT} characters cannot be written: Elixir's inspect would cut it short`,
        );
      }
      return `'${escapeText(Buffer.from(codes), 0x27)}'`;
    }
    if (isKeyword(items)) return `[${items.map(inspectPair).join(", ")}]`;
    return `[${items.map(inspectElixir).join(", ")}]`;
  }
  return `[${items.map(inspectElixir).join(", ")} | ${inspectElixir(tail)}]`;
}

function inspectMap(entries: [Term, Term][]): string {
  if (entries.some(([k]) => k.type === "atom" && k.value === "__struct__")) {
    throw new BeamixError("a map with a __struct__ key cannot be written as plain data");
  }
  const ordered = mapIterationOrder(entries);
  if (ordered.length === 0) return "%{}";
  const asPairs: Term[] = ordered.map(([k, v]) => ({ type: "tuple", items: [k, v] }));
  if (isKeyword(asPairs)) return `%{${asPairs.map(inspectPair).join(", ")}}`;
  return `%{${ordered.map(([k, v]) => `${inspectElixir(k)} => ${inspectElixir(v)}`).join(", ")}}`;
}

export function inspectElixir(t: Term): string {
  switch (t.type) {
    case "integer":
      return t.value.toString();
    case "float":
      throw new BeamixError("floats are not supported in this file");
    case "atom":
      return inspectAtom(t.value);
    case "binary":
      return inspectBinary(t.value);
    case "string":
    case "list":
      return inspectList(t);
    case "tuple":
      return `{${t.items.map(inspectElixir).join(", ")}}`;
    case "map":
      return inspectMap(t.entries);
  }
}
