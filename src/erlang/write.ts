// Erlang's text for atomic terms, as io_lib writes them: atoms (quoted when needed), string
// and character escapes, floats in the shortest round-trip form, and `~w` for whole terms.
import { listView, unwrap, type Term } from "./term.ts";
import { mapIterationOrder } from "./order.ts";

// Words erl_scan reserves in OTP 25 (with no optional language features enabled, so `maybe`
// and `else` are plain atoms there).
const RESERVED = new Set([
  "after", "begin", "case", "try", "cond", "catch", "andalso", "orelse", "end", "fun", "if",
  "let", "of", "receive", "when", "bnot", "not", "div", "rem", "band", "and", "bor", "bxor",
  "bsl", "bsr", "or", "xor",
]);

export const isReservedWord = (name: string): boolean => RESERVED.has(name);

// First character of an unquoted atom: a-z and the Latin-1 lower-case letters.
export const isAtomStart = (c: number): boolean =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0xdf && c <= 0xff && c !== 0xf7);

// Later characters: letters, digits, `_` and `@`.
export const isNameChar = (c: number): boolean =>
  isAtomStart(c) ||
  (c >= 0x41 && c <= 0x5a) ||
  (c >= 0xc0 && c <= 0xde && c !== 0xd7) ||
  (c >= 0x30 && c <= 0x39) ||
  c === 0x5f ||
  c === 0x40;

export function atomNeedsQuotes(name: string): boolean {
  if (RESERVED.has(name)) return true;
  const cps = [...name].map((ch) => ch.codePointAt(0)!);
  if (cps.length === 0 || !isAtomStart(cps[0])) return true;
  return !cps.every(isNameChar);
}

// How a character is written inside quotes. `unicode`: characters >= 160 stay as they are
// (io_lib:write_string/2); `latin1`: those above 255 become \x{...} (write_string_as_latin1).
export function escapeChar(c: number, quote: number, enc: "unicode" | "latin1" = "unicode"): string {
  if (c === quote) return "\\" + String.fromCodePoint(c);
  if (c === 0x5c) return "\\\\";
  if (c >= 0x20 && c <= 0x7e) return String.fromCodePoint(c);
  if (c >= 0xa0) {
    if (enc === "latin1" && c > 0xff) return `\\x{${c.toString(16).toUpperCase()}}`;
    return String.fromCodePoint(c);
  }
  switch (c) {
    case 0x0a: return "\\n";
    case 0x0d: return "\\r";
    case 0x09: return "\\t";
    case 0x0b: return "\\v";
    case 0x08: return "\\b";
    case 0x0c: return "\\f";
    case 0x1b: return "\\e";
    case 0x7f: return "\\d";
  }
  // Other control characters: three octal digits.
  return "\\" + c.toString(8).padStart(3, "0");
}

export function quoteChars(codes: Iterable<number>, quote: number, enc: "unicode" | "latin1" = "unicode"): string {
  let out = String.fromCodePoint(quote);
  for (const c of codes) out += escapeChar(c, quote, enc);
  return out + String.fromCodePoint(quote);
}

const codesOf = (s: string): number[] => [...s].map((ch) => ch.codePointAt(0)!);

export function writeAtom(name: string, enc: "unicode" | "latin1" = "unicode"): string {
  return atomNeedsQuotes(name) ? quoteChars(codesOf(name), 0x27, enc) : name;
}

export function writeString(s: string | number[], enc: "unicode" | "latin1" = "unicode"): string {
  return quoteChars(typeof s === "string" ? codesOf(s) : s, 0x22, enc);
}

// float_to_list(F, [short]) of OTP 25 (what ~p and ~w use): the shortest digits that read
// back as the same double, laid out in fixed or scientific notation by Erlang's thresholds.
export function formatFloat(f: number): string {
  if (!Number.isFinite(f)) throw new Error(`${f} is not an Erlang float`);
  const neg = f < 0 || Object.is(f, -0);
  const a = Math.abs(f);
  if (a === 0) return neg ? "-0.0" : "0.0";
  // JS's toExponential() with no argument gives the shortest round-trip digits too.
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(a.toExponential());
  if (!m) throw new Error(`cannot format ${f}`);
  const digits = m[1] + (m[2] ?? "");
  const n = digits.length;
  const sciExp = Number(m[3]);
  const exp = sciExp - (n - 1); // value = digits * 10^exp
  let lower: number;
  let upper: number;
  if (n === 1) {
    lower = -4;
    upper = 2;
  } else {
    lower = -(n + 2);
    upper = sciExp >= 10 ? 2 : 1;
  }
  let fixed = lower <= exp && exp <= upper;
  if (fixed) {
    // Integers at or beyond 2^53 are shown in scientific notation, as Erlang does.
    const mant = BigInt(digits);
    if (
      (exp === 0 && mant >= 1n << 53n) ||
      (exp === 1 && mant > (1n << 52n) / 5n) ||
      (exp === 2 && mant > (1n << 51n) / 25n)
    ) {
      fixed = false;
    }
  }
  let body: string;
  if (fixed) {
    if (exp >= 0) body = digits + "0".repeat(exp) + ".0";
    else if (n + exp > 0) body = digits.slice(0, n + exp) + "." + digits.slice(n + exp);
    else body = "0." + "0".repeat(-(n + exp)) + digits;
  } else {
    body = digits[0] + "." + (n > 1 ? digits.slice(1) : "0") + "e" + sciExp;
  }
  return (neg ? "-" : "") + body;
}

// io_lib:write/1, i.e. `~w`: one line, binaries and strings as integers, atoms escaped as
// Latin-1 text.
export function writeTerm(t0: Term): string {
  const t = unwrap(t0);
  switch (t.type) {
    case "integer":
      return t.value.toString();
    case "float":
      return formatFloat(t.value);
    case "atom":
      return writeAtom(t.value, "latin1");
    case "binary":
      return "<<" + [...t.value].join(",") + ">>";
    case "tuple":
      return "{" + t.items.map(writeTerm).join(",") + "}";
    case "map":
      return (
        "#{" + mapIterationOrder(t.entries).map(([k, v]) => writeTerm(k) + " => " + writeTerm(v)).join(",") + "}"
      );
    case "list":
    case "string": {
      const v = listView(t)!;
      if (v.items.length === 0) return "[]";
      return "[" + v.items.map(writeTerm).join(",") + (v.tail ? "|" + writeTerm(v.tail) : "") + "]";
    }
  }
}
