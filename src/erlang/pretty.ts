// Erlang's pretty printer, io_lib_pretty:print/2, reproduced to the byte for the options Hex
// uses when it writes metadata.config: `[{encoding, utf8}]` (what `~tp` prints), i.e. line
// length 80, column 1, no depth or character limit, strings and printable binaries shown as
// text, and the VM's default printable range (Latin-1; a VM started with `+pc unicode` is
// the `printableRange: "unicode"` option).
//
// The layout works in two passes, as Erlang's does: first every subterm is rendered flat and
// measured; then, top down, a subterm that does not fit in what is left of the line is
// broken over lines. A first dry run decides how tagged tuples (`{atom, ...}`) indent.
import { listView, unwrap, type Term } from "./term.ts";
import { mapIterationOrder } from "./order.ts";
import { formatFloat, writeAtom, writeString, writeTerm } from "./write.ts";

export interface PrettyOptions {
  /** Erlang's `line_length` (default 80); 0 prints everything on one line. */
  lineLength?: number;
  /** Characters already on the current line before the term (Erlang's `column` minus 1). */
  indent?: number;
  /** The VM's printable range (`+pc`): which characters make a list or binary text. */
  printableRange?: "latin1" | "unicode";
}

// A measured subterm. `text` nodes are written as is and never broken (Erlang's atomic
// entries); binaries that are not text (`<<1,2,3>>`) can wrap between bytes.
type Node =
  | { kind: "text"; s: string; len: number }
  | { kind: "bytes"; parts: string[]; len: number }
  | { kind: "list"; elems: Node[]; tail: Node | null; len: number }
  | { kind: "tuple"; tagged: boolean; elems: Node[]; len: number }
  | { kind: "map"; pairs: Pair[]; len: number };
interface Pair {
  key: Node;
  value: Node;
  len: number;
}

// Length in characters as io_lib:chars_length/1 counts them: code points when all are
// Latin-1, grapheme clusters otherwise (string:length/1).
let segmenter: Intl.Segmenter | undefined;
function charsLength(s: string): number {
  let n = 0;
  for (const ch of s) {
    if (ch.codePointAt(0)! > 0xff) {
      segmenter ??= new Intl.Segmenter(undefined, { granularity: "grapheme" });
      let g = 0;
      for (const _ of segmenter.segment(s)) g++;
      return g;
    }
    n++;
  }
  return n;
}

const CONTROL_PRINTABLE = new Set([0x0a, 0x0d, 0x09, 0x0b, 0x08, 0x0c, 0x1b]);

function printableChar(c: number, range: "latin1" | "unicode"): boolean {
  if (CONTROL_PRINTABLE.has(c)) return true;
  if (c >= 0x20 && c <= 0x7e) return true;
  if (range === "latin1") return c >= 0xa0 && c <= 0xff;
  return (c >= 0xa0 && c < 0xd800) || (c > 0xdfff && c < 0xfffe) || (c > 0xffff && c <= 0x10ffff);
}

// Decodes UTF-8 the way a `<<C/utf8>>` match does: no overlong forms, no surrogates, nothing
// above U+10FFFF. Returns null for anything else.
function decodeUtf8(b: Buffer): number[] | null {
  const out: number[] = [];
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    let need: number;
    let cp: number;
    let min: number;
    if (c < 0x80) {
      out.push(c);
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      cp = c & 0x1f;
      min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      cp = c & 0x0f;
      min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      cp = c & 0x07;
      min = 0x10000;
    } else return null;
    if (i + need >= b.length) return null;
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if ((d & 0xc0) !== 0x80) return null;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null;
    out.push(cp);
    i += need + 1;
  }
  return out;
}

interface Ctx {
  range: "latin1" | "unicode";
}

function measureBinary(b: Buffer, ctx: Ctx): Node {
  if (b.length === 0) return { kind: "text", s: "<<>>", len: 4 };
  const cps = decodeUtf8(b);
  if (cps !== null) {
    if (cps.every((c) => printableChar(c, ctx.range))) {
      const s = writeString(cps);
      // Pure ASCII reads back without a type; anything wider needs /utf8.
      if (cps.length === b.length) return { kind: "text", s: "<<" + s + ">>", len: 4 + [...s].length };
      return { kind: "text", s: "<<" + s + "/utf8>>", len: 9 + charsLength(s) };
    }
  } else if ([...b].every((c) => printableChar(c, "latin1"))) {
    // Not UTF-8 but all printable Latin-1 bytes: shown as Latin-1 text.
    const s = writeString([...b]);
    return { kind: "text", s: "<<" + s + ">>", len: 4 + [...s].length };
  }
  const parts = [...b].map((x) => String(x));
  return { kind: "bytes", parts, len: 4 + parts.reduce((n, p) => n + p.length, 0) + parts.length - 1 };
}

function seqLength(nodes: { len: number }[], open: number): number {
  return open + nodes.reduce((n, x) => n + x.len, 0) + Math.max(0, nodes.length - 1);
}

function measure(t0: Term, ctx: Ctx): Node {
  const t = unwrap(t0);
  switch (t.type) {
    case "integer":
    case "float": {
      const s = t.type === "integer" ? t.value.toString() : formatFloat(t.value);
      return { kind: "text", s, len: s.length };
    }
    case "atom": {
      const s = writeAtom(t.value);
      return { kind: "text", s, len: charsLength(s) };
    }
    case "binary":
      return measureBinary(t.value, ctx);
    case "tuple": {
      if (t.items.length === 0) return { kind: "text", s: "{}", len: 2 };
      const elems = t.items.map((x) => measure(x, ctx));
      const first = unwrap(t.items[0]);
      return { kind: "tuple", tagged: first.type === "atom" && t.items.length > 1, elems, len: seqLength(elems, 2) };
    }
    case "map": {
      if (t.entries.length === 0) return { kind: "text", s: "#{}", len: 3 };
      const pairs = mapIterationOrder(t.entries).map(([k, v]): Pair => {
        const key = measure(k, ctx);
        const value = measure(v, ctx);
        return { key, value, len: key.len + 4 + value.len };
      });
      return { kind: "map", pairs, len: seqLength(pairs, 3) };
    }
    case "list":
    case "string": {
      const v = listView(t)!;
      if (v.items.length === 0) return { kind: "text", s: "[]", len: 2 };
      if (v.tail === null) {
        const codes: number[] = [];
        for (const x of v.items) {
          const u = unwrap(x);
          if (u.type !== "integer" || u.value < 0n || u.value > 0x10ffffn) break;
          const c = Number(u.value);
          if (!printableChar(c, ctx.range)) break;
          codes.push(c);
        }
        if (codes.length === v.items.length) {
          const s = writeString(codes);
          return { kind: "text", s, len: charsLength(s) };
        }
      }
      const elems = v.items.map((x) => measure(x, ctx));
      const tail = v.tail === null ? null : measure(v.tail, ctx);
      const len = seqLength(elems, 2) + (tail ? 1 + tail.len : 0);
      return { kind: "list", elems, tail, len };
    }
  }
}

// The whole node on one line.
function flat(n: Node): string {
  switch (n.kind) {
    case "text":
      return n.s;
    case "bytes":
      return "<<" + n.parts.join(",") + ">>";
    case "tuple":
      return "{" + n.elems.map(flat).join(",") + "}";
    case "list":
      return "[" + n.elems.map(flat).join(",") + (n.tail ? "|" + flat(n.tail) : "") + "]";
    case "map":
      return "#{" + n.pairs.map(flatPair).join(",") + "}";
  }
}
const flatPair = (p: Pair): string => flat(p.key) + " => " + flat(p.value);

type TextNode = Extract<Node, { kind: "text" }>;
const isText = (n: Node): n is TextNode => n.kind === "text";
const isTextPair = (p: Pair): boolean => isText(p.key) && isText(p.value);
const spaces = (n: number): string => " ".repeat(n);

// Layout state shared by a whole print: line length, the total flat length of the term
// (Erlang's per-line character budget when no explicit one is given) and the tagged-tuple
// indentation chosen by the dry run (-1: align after the tag; 4: indent by 4; 1: fallback).
interface Layout {
  ll: number;
  m: number;
  tind: number;
}

// Does a node of `len` chars fit at `col`, `w` chars into the line, with `ld` closing
// brackets still to come after it?
const fits = (L: Layout, len: number, col: number, ld: number, w: number): boolean =>
  len < L.ll - col - ld && len + w + ld <= L.m;

// Whether the next element of a sequence may follow on the same line. `ld1` is 0 when more
// elements follow it, else the number of closing brackets after it.
function fitsInline(L: Layout, elen: number, col: number, ld1: number, w: number): boolean {
  if (ld1 === 0) return elen + 1 < L.ll - col && w + elen + 1 <= L.m;
  return elen < L.ll - col - ld1 && w + elen + ld1 <= L.m;
}

// Brackets closing after element i of a sequence of n: none if more follow.
const lastDepth = (i: number, n: number, ld: number): number => (i < n - 1 ? 0 : ld + 1);

function pp(n: Node, col: number, L: Layout, ind: string, ld: number, w: number): string {
  if (fits(L, n.len, col, ld, w)) return flat(n);
  switch (n.kind) {
    case "text":
      return n.s;
    case "bytes":
      return ppBytes(n, col + 2, L, spaces(2) + ind, ld, w);
    case "list":
      return "[" + ppSeq(n.elems, n.tail, col + 1, L, " " + ind, ld, "|", w + 1) + "]";
    case "tuple":
      if (n.tagged) return "{" + ppTagged(n.elems, col, L, ind, ld, w + 1) + "}";
      return "{" + ppSeq(n.elems, null, col + 1, L, " " + ind, ld, ",", w + 1) + "}";
    case "map":
      return "#{" + ppMap(n.pairs, col + 2, L, spaces(2) + ind, ld, w + 1) + "}";
  }
}

// `{tag, ...}`: the elements either line up after the tag or, when the tag is long and the
// dry run chose a fixed indentation, go on the following lines indented by it.
function ppTagged(elems: Node[], col: number, L: Layout, ind: string, ld: number, w: number): string {
  const tag = elems[0] as TextNode;
  const tagInd = tag.len + 2;
  const tcol = col + tagInd;
  const rest = elems.slice(1);
  if (L.tind > 0 && tagInd > L.tind) {
    return tag.s + ppTail(rest, null, 0, col + L.tind, tcol, L, spaces(L.tind) + ind, ld, ",", w + tag.len);
  }
  return tag.s + "," + ppSeq(rest, null, tcol, L, spaces(tagInd) + ind, ld, ",", w + tag.len + 1);
}

// An element on its own: text that fits is written and counts its width; anything else is
// laid out and forces the next element onto a new line (width = line length).
function ppElement(n: Node, col: number, L: Layout, ind: string, ld: number, w: number): [string, number] {
  if (fits(L, n.len, col, ld, w) && isText(n)) return [n.s, n.len];
  return [pp(n, col, L, ind, ld, w), L.ll];
}

function ppSeq(
  elems: Node[], tail: Node | null, col0: number, L: Layout, ind: string, ld: number, sep: string, w: number,
): string {
  const [s, we] = ppElement(elems[0], col0, L, ind, lastDepth(0, elems.length, ld), w);
  return s + ppTail(elems, tail, 1, col0, col0 + we, L, ind, ld, sep, w + we);
}

function ppTail(
  elems: Node[], tail: Node | null, i: number, col0: number, col: number, L: Layout, ind: string, ld: number,
  sep: string, w: number,
): string {
  let out = "";
  for (; i < elems.length; i++) {
    const e = elems[i];
    const ld1 = lastDepth(i, elems.length, ld);
    const elen = 1 + e.len;
    if (isText(e) && fitsInline(L, elen, col, ld1, w)) {
      out += "," + flat(e);
      col += elen;
      w += elen;
    } else {
      const [s, we] = ppElement(e, col0, L, ind, ld1, 0);
      out += ",\n" + ind + s;
      col = col0 + we;
      w = we;
    }
  }
  if (tail === null) return out;
  // Improper tail `|T`.
  if (isText(tail) && tail.len + 1 < L.ll - col - (ld + 1) && tail.len + 1 + w + (ld + 1) <= L.m) {
    return out + sep + flat(tail);
  }
  return out + sep + "\n" + ind + pp(tail, col0, L, ind, ld + 1, 0);
}

function ppMap(pairs: Pair[], col: number, L: Layout, ind: string, ld: number, w: number): string {
  let [out, pw] = ppPair(pairs[0], col, L, ind, lastDepth(0, pairs.length, ld), w);
  let cur = col + pw;
  let width = pw;
  for (let i = 1; i < pairs.length; i++) {
    const p = pairs[i];
    const ld1 = lastDepth(i, pairs.length, ld);
    const elen = 1 + p.len;
    if (isTextPair(p) && fitsInline(L, elen, cur, ld1, width)) {
      out += "," + flatPair(p);
      cur += elen;
      width += elen;
    } else {
      const [s, w2] = ppPair(p, col, L, ind, ld1, 0);
      out += ",\n" + ind + s;
      cur = col + w2;
      width = w2;
    }
  }
  return out;
}

const mapValueIndent = (tind: number): number => (tind > 0 ? tind : 4);

function ppPair(p: Pair, col: number, L: Layout, ind: string, ld: number, w: number): [string, number] {
  if (fits(L, p.len, col, ld, w)) return [flatPair(p), isTextPair(p) ? p.len : L.ll];
  const i = mapValueIndent(L.tind);
  const vind = spaces(i) + ind;
  return [pp(p.key, col, L, ind, ld, w) + " =>\n" + vind + pp(p.value, col + i, L, vind, ld, 0), L.ll];
}

// `<<1,2,...>>` broken between bytes to stay within the line.
function ppBytes(n: Extract<Node, { kind: "bytes" }>, col: number, L: Layout, ind: string, ld: number, w: number): string {
  const n0 = Math.max(8, Math.min(L.ll - col, L.m - 4 - w) - ld);
  let room = n0;
  let out = "";
  const last = n.parts.length - 1;
  for (let i = 0; i < last; i++) {
    const len = n.parts[i].length + 1;
    if (room - len < 0) {
      out += "\n" + ind + n.parts[i] + ",";
      room = n0 - len;
    } else {
      out += n.parts[i] + ",";
      room -= len;
    }
  }
  out += n.parts[last].length > room ? "\n" + ind + n.parts[last] : n.parts[last];
  return "<<" + out + ">>";
}

// Dry run of the layout with a candidate tagged-tuple indentation: throws when some tagged
// tuple would end up indented beyond half the line without room for the whole term.
class NoGood extends Error {}

function cind(n: Node, col: number, L: Layout, ld: number, w: number): void {
  if (fits(L, n.len, col, ld, w)) return;
  switch (n.kind) {
    case "list":
      return cindSeq(n.elems, n.tail, col + 1, L, ld, w + 1);
    case "tuple":
      if (n.tagged) return cindTagged(n.elems, col, L, ld, w + 1);
      return cindSeq(n.elems, null, col + 1, L, ld, w + 1);
    case "map":
      return cindMap(n.pairs, col + 2, L, ld, w + 2);
    default:
      return;
  }
}

function cindTagged(elems: Node[], col: number, L: Layout, ld: number, w: number): void {
  const tlen = elems[0].len;
  const tagInd = tlen + 2;
  const tcol = col + tagInd;
  const half = Math.floor(L.ll / 2);
  const rest = elems.slice(1);
  if (L.tind > 0 && tagInd > L.tind) {
    const col1 = col + L.tind;
    if (!(L.m + col1 <= L.ll || col1 <= half)) throw new NoGood();
    return cindTail(rest, null, 0, col1, tcol, L, ld, w + tlen);
  }
  if (!(L.m + tcol < L.ll || tcol < half)) throw new NoGood();
  return cindSeq(rest, null, tcol, L, ld, w + tlen + 1);
}

function cindElement(n: Node, col: number, L: Layout, ld: number, w: number): number {
  if (fits(L, n.len, col, ld, w) && isText(n)) return n.len;
  cind(n, col, L, ld, w);
  return L.ll;
}

function cindSeq(elems: Node[], tail: Node | null, col0: number, L: Layout, ld: number, w: number): void {
  const we = cindElement(elems[0], col0, L, lastDepth(0, elems.length, ld), w);
  cindTail(elems, tail, 1, col0, col0 + we, L, ld, w + we);
}

function cindTail(
  elems: Node[], tail: Node | null, i: number, col0: number, col: number, L: Layout, ld: number, w: number,
): void {
  for (; i < elems.length; i++) {
    const e = elems[i];
    const ld1 = lastDepth(i, elems.length, ld);
    const elen = 1 + e.len;
    if (isText(e) && fitsInline(L, elen, col, ld1, w)) {
      col += elen;
      w += elen;
    } else {
      const we = cindElement(e, col0, L, ld1, 0);
      col = col0 + we;
      w = we;
    }
  }
  if (tail === null) return;
  if (isText(tail) && tail.len + 1 < L.ll - col - (ld + 1) && tail.len + 1 + w + (ld + 1) <= L.m) return;
  // Erlang measures the tail from the current column here, not from the sequence start.
  cind(tail, col, L, ld + 1, 0);
}

function cindMap(pairs: Pair[], col: number, L: Layout, ld: number, w: number): void {
  const pw = cindPair(pairs[0], col, L, lastDepth(0, pairs.length, ld), w);
  let cur = col + pw;
  let width = w + pw;
  for (let i = 1; i < pairs.length; i++) {
    const p = pairs[i];
    const ld1 = lastDepth(i, pairs.length, ld);
    const elen = 1 + p.len;
    if (isTextPair(p) && fitsInline(L, elen, cur, ld1, width)) {
      cur += elen;
      width += elen;
    } else {
      const w2 = cindPair(p, col, L, ld1, 0);
      cur = col + w2;
      width = w2;
    }
  }
}

function cindPair(p: Pair, col: number, L: Layout, ld: number, w: number): number {
  if (fits(L, p.len, col, ld, w)) return isTextPair(p) ? p.len : L.ll;
  cind(p.key, col, L, ld, w);
  cind(p.value, col + mapValueIndent(L.tind), L, ld, 0);
  return L.ll;
}

/** io_lib_pretty:print(Term, [{encoding, utf8}]) (plus `line_length` / `column`). */
export function prettyTerm(t0: Term, opts: PrettyOptions = {}): string {
  const ll = opts.lineLength ?? 80;
  const col = Math.max(1, (opts.indent ?? 0) + 1);
  const t = unwrap(t0);
  if (t.type === "integer" || t.type === "float") return writeTerm(t);
  const ctx: Ctx = { range: opts.printableRange ?? "latin1" };
  const n = measure(t, ctx);
  if (n.kind === "text") return n.s;
  // With no explicit limit the per-line budget is the term's whole flat length.
  const m = n.len;
  if (ll === 0 || n.len < ll - col) return flat(n);
  let tind = 1;
  for (const candidate of [-1, 4]) {
    try {
      cind(n, col, { ll, m, tind: candidate }, 0, 0);
      tind = candidate;
      break;
    } catch (e) {
      if (!(e instanceof NoGood)) throw e;
    }
  }
  return pp(n, col, { ll, m, tind }, spaces(col - 1), 0, 0);
}

/** A file:consult/1 file as Hex writes metadata.config: each term pretty-printed, then ".\n". */
export function formatConsultFile(terms: Term[]): string {
  return terms.map((t) => prettyTerm(t) + ".\n").join("");
}

/** One line, text shown as text: io_lib_pretty with line length 0, i.e. `~0tp` (plain `~0p`
 *  differs only in writing binaries as Latin-1). For `~w` see writeTerm in write.ts. */
export function formatTermCompact(t: Term): string {
  return prettyTerm(t, { lineLength: 0 });
}
