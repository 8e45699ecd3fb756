// A reader for Erlang term text as file:consult/1 accepts it (erl_scan + erl_parse:parse_term):
// literals only (no variables, operators other than a sign on a number, records or funs).
//
// Values follow Erlang exactly, so that what Erlang's printer writes reads back unchanged:
// - a binary string segment without a type stores each character truncated to 8 bits, as
//   Erlang does (`<<"é">>` is <<233>>); `<<"é"/utf8>>` stores its UTF-8 encoding;
// - `"..."` is a string term, `""` the empty string (an empty list); a list whose tail is a
//   list is flattened (`[1|[2]]` is `[1,2]`); adjacent strings are concatenated;
// - `$c` is an integer; a repeated map key keeps its last value.
import { BeamixError } from "../errors.ts";
import { termsEqual } from "./order.ts";
import { isAtomStart, isNameChar, isReservedWord } from "./write.ts";
import type { Term } from "./term.ts";

type Tok =
  | { k: "int"; v: bigint }
  | { k: "float"; v: number }
  | { k: "char"; v: number }
  | { k: "atom"; v: string }
  | { k: "string"; v: string }
  | { k: "var"; v: string }
  | { k: "reserved"; v: string }
  | { k: "punct"; v: string }
  | { k: "dot" }
  | { k: "eof" };
type Token = Tok & { line: number; col: number };

const PUNCT = ["<<", ">>", "=>", "#{", "{", "}", "[", "]", "(", ")", ",", "|", ":", "/", "-", "+"];

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
// erl_scan's white space: control characters, space, and U+0080..U+00A0.
const isSpace = (c: number): boolean => (c >= 0 && c <= 0x20) || (c >= 0x80 && c <= 0xa0);
const isVarStart = (c: number): boolean =>
  (c >= 0x41 && c <= 0x5a) || c === 0x5f || (c >= 0xc0 && c <= 0xde && c !== 0xd7);
const isUnicodeScalar = (c: number): boolean =>
  (c >= 0 && c < 0xd800) || (c > 0xdfff && c < 0xfffe) || (c > 0xffff && c <= 0x10ffff);

function describe(t: Tok): string {
  switch (t.k) {
    case "eof":
      return "end of input";
    case "dot":
      return "'.'";
    case "punct":
      return `'${t.v}'`;
    case "string":
      return "a string";
    case "var":
      return `variable ${t.v}`;
    case "reserved":
      return `reserved word ${t.v}`;
    case "atom":
      return `atom ${t.v}`;
    default:
      return `${t.k} ${String(t.v)}`;
  }
}

class Scanner {
  private readonly cps: number[];
  private i = 0;
  private line = 1;
  private col = 1;
  private readonly file: string;
  constructor(text: string, file: string) {
    this.file = file;
    this.cps = Array.from(text, (ch) => ch.codePointAt(0)!);
  }

  fail(line: number, col: number, msg: string): never {
    throw new BeamixError(`${this.file}:${line}:${col}: ${msg}`);
  }

  private peek(o = 0): number {
    return this.i + o < this.cps.length ? this.cps[this.i + o] : -1;
  }

  private advance(): number {
    const c = this.cps[this.i++];
    if (c === 0x0a) {
      this.line++;
      this.col = 1;
    } else this.col++;
    return c;
  }

  private skipBlank(): void {
    for (;;) {
      const c = this.peek();
      if (c === -1) return;
      if (isSpace(c)) this.advance();
      else if (c === 0x25 /* % */) {
        while (this.peek() !== -1 && this.peek() !== 0x0a) this.advance();
      } else return;
    }
  }

  next(): Token {
    this.skipBlank();
    const line = this.line;
    const col = this.col;
    const at = (t: Tok): Token => ({ ...t, line, col });
    const c = this.peek();
    if (c === -1) return at({ k: "eof" });
    if (isDigit(c)) return at(this.number(line, col));
    if (c === 0x24 /* $ */) {
      this.advance();
      const d = this.peek();
      if (d === -1) this.fail(line, col, "expected a character after '$'");
      if (d === 0x5c) {
        this.advance();
        return at({ k: "char", v: this.escape() });
      }
      return at({ k: "char", v: this.advance() });
    }
    if (c === 0x22 /* " */) return at({ k: "string", v: this.quoted(0x22, line, col) });
    if (c === 0x27 /* ' */) {
      const name = this.quoted(0x27, line, col);
      if ([...name].length > 255) this.fail(line, col, "atom too long (over 255 characters)");
      return at({ k: "atom", v: name });
    }
    if (isAtomStart(c) || isVarStart(c)) {
      let s = "";
      while (isNameChar(this.peek())) s += String.fromCodePoint(this.advance());
      if (isVarStart(c)) return at({ k: "var", v: s });
      if (isReservedWord(s)) return at({ k: "reserved", v: s });
      if ([...s].length > 255) this.fail(line, col, "atom too long (over 255 characters)");
      return at({ k: "atom", v: s });
    }
    if (c === 0x2e /* . */) {
      const d = this.peek(1);
      if (d === -1 || isSpace(d) || d === 0x25) {
        this.advance();
        return at({ k: "dot" });
      }
    }
    for (const p of PUNCT) {
      if ([...p].every((ch, k) => this.peek(k) === ch.charCodeAt(0))) {
        for (let k = 0; k < p.length; k++) this.advance();
        return at({ k: "punct", v: p });
      }
    }
    this.fail(line, col, `unexpected character '${String.fromCodePoint(c)}'`);
  }

  // Digits of `base` with `_` allowed between two digits (OTP 23+).
  private digits(base: number, line: number, col: number): string {
    let s = "";
    const val = (c: number): number => {
      if (isDigit(c)) return c - 0x30;
      if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 10;
      if (c >= 0x41 && c <= 0x5a) return c - 0x41 + 10;
      return 99;
    };
    for (;;) {
      const c = this.peek();
      if (val(c) < base) s += String.fromCodePoint(this.advance());
      else if (c === 0x5f && s !== "" && val(this.peek(1)) < base) this.advance();
      else break;
    }
    if (s === "") this.fail(line, col, `expected a base-${base} digit`);
    return s;
  }

  private number(line: number, col: number): Tok {
    const whole = this.digits(10, line, col);
    if (this.peek() === 0x23 /* # */) {
      const base = Number(whole);
      if (base < 2 || base > 36) this.fail(line, col, `illegal base ${whole}`);
      this.advance();
      const ds = this.digits(base, this.line, this.col);
      let v = 0n;
      for (const ch of ds.toLowerCase()) v = v * BigInt(base) + BigInt(parseInt(ch, 36));
      return { k: "int", v };
    }
    if (this.peek() === 0x2e && isDigit(this.peek(1))) {
      this.advance();
      let text = whole + "." + this.digits(10, line, col);
      const e = this.peek();
      if (e === 0x65 || e === 0x45) {
        const s = this.peek(1);
        const signed = s === 0x2b || s === 0x2d;
        if (isDigit(this.peek(signed ? 2 : 1))) {
          this.advance();
          text += "e";
          if (signed) text += String.fromCodePoint(this.advance());
          text += this.digits(10, line, col);
        }
      }
      const v = Number(text);
      if (!Number.isFinite(v)) this.fail(line, col, `float ${text} out of range`);
      return { k: "float", v };
    }
    return { k: "int", v: BigInt(whole) };
  }

  private escape(): number {
    const line = this.line;
    const col = this.col;
    const c = this.peek();
    if (c === -1) this.fail(line, col, "unterminated escape sequence");
    if (c >= 0x30 && c <= 0x37) {
      let v = 0;
      for (let k = 0; k < 3 && this.peek() >= 0x30 && this.peek() <= 0x37; k++) v = v * 8 + (this.advance() - 0x30);
      return v;
    }
    const hex = (x: number): boolean => isDigit(x) || (x >= 0x61 && x <= 0x66) || (x >= 0x41 && x <= 0x46);
    if (c === 0x78 /* x */) {
      this.advance();
      if (this.peek() === 0x7b /* { */) {
        this.advance();
        let s = "";
        while (hex(this.peek())) s += String.fromCodePoint(this.advance());
        if (this.peek() !== 0x7d || s === "") this.fail(line, col, "expected hex digits and '}' in \\x{...}");
        this.advance();
        const v = parseInt(s, 16);
        if (!isUnicodeScalar(v)) this.fail(line, col, `\\x{${s}} is not a Unicode character`);
        return v;
      }
      if (hex(this.peek()) && hex(this.peek(1))) {
        return parseInt(String.fromCodePoint(this.advance(), this.advance()), 16);
      }
      this.fail(line, col, "expected two hex digits or {...} after \\x");
    }
    if (c === 0x5e /* ^ */) {
      this.advance();
      if (this.peek() === -1) this.fail(line, col, "unterminated escape sequence");
      return this.advance() & 31;
    }
    this.advance();
    switch (c) {
      case 0x6e: return 0x0a; // n
      case 0x72: return 0x0d; // r
      case 0x74: return 0x09; // t
      case 0x76: return 0x0b; // v
      case 0x62: return 0x08; // b
      case 0x66: return 0x0c; // f
      case 0x65: return 0x1b; // e
      case 0x73: return 0x20; // s
      case 0x64: return 0x7f; // d
      default: return c;
    }
  }

  private quoted(q: number, line: number, col: number): string {
    this.advance();
    let s = "";
    for (;;) {
      const c = this.peek();
      if (c === -1) this.fail(line, col, `unterminated ${q === 0x22 ? "string" : "quoted atom"}`);
      this.advance();
      if (c === q) return s;
      s += String.fromCodePoint(c === 0x5c ? this.escape() : c);
    }
  }
}

// One binary segment's value after its type: a list of bits to append.
class BitWriter {
  private bits: number[] = [];
  push(value: bigint, size: number, little: boolean): void {
    const mask = (1n << BigInt(size)) - 1n;
    let v = BigInt.asUintN(size, value) & mask;
    if (little) {
      // Erlang reverses whole bytes for little-endian segments.
      const bytes: bigint[] = [];
      for (let k = 0; k < size / 8; k++) {
        bytes.push(v & 0xffn);
        v >>= 8n;
      }
      for (const b of bytes) this.pushBig(b, 8);
      return;
    }
    this.pushBig(v, size);
  }
  private pushBig(v: bigint, size: number): void {
    // Most segments are 8-bit characters: shift plain numbers rather than bigints.
    if (size <= 32) {
      const n = Number(v);
      for (let k = size - 1; k >= 0; k--) this.bits.push(Math.floor(n / 2 ** k) % 2);
      return;
    }
    for (let k = size - 1; k >= 0; k--) this.bits.push(Number((v >> BigInt(k)) & 1n));
  }
  get length(): number {
    return this.bits.length;
  }
  toBuffer(): Buffer {
    const out = Buffer.alloc(this.bits.length / 8);
    for (let k = 0; k < this.bits.length; k++) if (this.bits[k]) out[k >> 3] |= 0x80 >> (k & 7);
    return out;
  }
}

function utf8Of(cp: number): number[] {
  return [...Buffer.from(String.fromCodePoint(cp), "utf8")];
}

class Parser {
  private tok: Token;
  private readonly sc: Scanner;
  constructor(sc: Scanner) {
    this.sc = sc;
    this.tok = sc.next();
  }

  private fail(msg: string, at: Token = this.tok): never {
    this.sc.fail(at.line, at.col, msg);
  }

  private expected(what: string): never {
    this.fail(`expected ${what}, found ${describe(this.tok)}`);
  }

  private advance(): Token {
    const t = this.tok;
    this.tok = this.sc.next();
    return t;
  }

  private isPunct(p: string): boolean {
    return this.tok.k === "punct" && this.tok.v === p;
  }

  private expect(p: string, what = `'${p}'`): void {
    if (!this.isPunct(p)) this.expected(what);
    this.advance();
  }

  atEof(): boolean {
    return this.tok.k === "eof";
  }

  expectDot(): void {
    if (this.tok.k !== "dot") this.expected("'.' ending the term");
    this.advance();
  }

  expectEof(): void {
    if (this.tok.k !== "eof") this.expected("end of input");
  }

  term(): Term {
    const t = this.tok;
    switch (t.k) {
      case "int":
        this.advance();
        return { type: "integer", value: t.v };
      case "char":
        this.advance();
        return { type: "integer", value: BigInt(t.v) };
      case "float":
        this.advance();
        return { type: "float", value: t.v };
      case "atom":
        this.advance();
        return { type: "atom", value: t.v };
      case "string":
        return { type: "string", value: this.strings() };
      case "var":
        this.fail(`expected a term, found ${describe(t)} (variables are not allowed in a term file)`);
      case "punct":
        switch (t.v) {
          case "-":
          case "+":
            return this.signed();
          case "{":
            return this.tuple();
          case "[":
            return this.list();
          case "#{":
            return this.map();
          case "<<":
            return this.binary();
        }
    }
    this.expected("a term");
  }

  private strings(): string {
    let s = "";
    for (let t = this.tok; t.k === "string"; t = this.tok) {
      s += t.v;
      this.advance();
    }
    return s;
  }

  private signed(): Term {
    const neg = (this.advance() as { v: string }).v === "-";
    const t = this.tok;
    if (t.k === "int" || t.k === "char") {
      this.advance();
      const v = t.k === "int" ? t.v : BigInt(t.v);
      return { type: "integer", value: neg ? -v : v };
    }
    if (t.k === "float") {
      this.advance();
      return { type: "float", value: neg ? -t.v : t.v };
    }
    this.expected("a number after the sign");
  }

  private tuple(): Term {
    this.advance();
    const items: Term[] = [];
    if (!this.isPunct("}")) {
      for (;;) {
        items.push(this.term());
        if (this.isPunct(",")) this.advance();
        else break;
      }
    }
    this.expect("}", "',' or '}'");
    return { type: "tuple", items };
  }

  private list(): Term {
    this.advance();
    const items: Term[] = [];
    if (this.isPunct("]")) {
      this.advance();
      return { type: "list", items };
    }
    let tail: Term | undefined;
    for (;;) {
      items.push(this.term());
      if (this.isPunct(",")) {
        this.advance();
        continue;
      }
      if (this.isPunct("|")) {
        this.advance();
        tail = this.term();
      }
      break;
    }
    this.expect("]", tail === undefined ? "',', '|' or ']'" : "']'");
    if (tail === undefined) return { type: "list", items };
    // [a|[b]] is [a,b] and [a|"bc"] is [a,$b,$c].
    if (tail.type === "list") {
      return tail.tail === undefined
        ? { type: "list", items: [...items, ...tail.items] }
        : { type: "list", items: [...items, ...tail.items], tail: tail.tail };
    }
    if (tail.type === "string") {
      return { type: "list", items: [...items, ...Array.from(tail.value, (ch): Term => ({ type: "integer", value: BigInt(ch.codePointAt(0)!) }))] };
    }
    return { type: "list", items, tail };
  }

  private map(): Term {
    this.advance();
    const entries: [Term, Term][] = [];
    if (!this.isPunct("}")) {
      for (;;) {
        const k = this.term();
        this.expect("=>", "'=>'");
        const v = this.term();
        const dup = entries.findIndex(([k2]) => termsEqual(k, k2));
        if (dup >= 0) entries.splice(dup, 1);
        entries.push([k, v]);
        if (this.isPunct(",")) this.advance();
        else break;
      }
    }
    this.expect("}", "',' or '}'");
    return { type: "map", entries };
  }

  private binary(): Term {
    const start = this.advance();
    const w = new BitWriter();
    if (!this.isPunct(">>")) {
      for (;;) {
        this.segment(w);
        if (this.isPunct(",")) this.advance();
        else break;
      }
    }
    this.expect(">>", "',' or '>>'");
    if (w.length % 8 !== 0) this.fail(`binary of ${w.length} bits is not a whole number of bytes`, start);
    return { type: "binary", value: w.toBuffer() };
  }

  private segment(w: BitWriter): void {
    const at = this.tok;
    // Value: a number (optionally signed), a character or string(s).
    let values: (bigint | number)[];
    if (this.tok.k === "string") {
      values = Array.from(this.strings(), (ch) => BigInt(ch.codePointAt(0)!));
    } else {
      const v = this.term();
      if (v.type === "integer" || v.type === "float") values = [v.value];
      else this.fail("expected a number, character or string in a binary segment", at);
    }
    let size: number | undefined;
    if (this.isPunct(":")) {
      this.advance();
      const s = this.tok;
      if (s.k !== "int") this.expected("a segment size");
      this.advance();
      size = Number(s.v);
    }
    let type = "integer";
    let little = false;
    let unit: number | undefined;
    if (this.isPunct("/")) {
      this.advance();
      for (;;) {
        const s = this.tok;
        if (s.k !== "atom") this.expected("a segment type");
        this.advance();
        switch (s.v) {
          case "integer": case "float": case "binary": case "bytes": case "bitstring": case "bits":
          case "utf8": case "utf16": case "utf32":
            type = s.v;
            break;
          case "little":
            little = true;
            break;
          case "big":
            little = false;
            break;
          case "signed": case "unsigned":
            break; // makes no difference when building a binary
          case "native":
            little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
            break;
          case "unit": {
            this.expect(":", "':' after unit");
            const u = this.tok;
            if (u.k !== "int") this.expected("a unit size");
            this.advance();
            unit = Number(u.v);
            break;
          }
          default:
            this.fail(`unknown binary segment type ${s.v}`, s);
        }
        if (this.isPunct("-")) this.advance();
        else break;
      }
    }
    for (const v of values) {
      switch (type) {
        case "integer": {
          if (typeof v === "number") this.fail("a float segment needs the /float type", at);
          const bits = (size ?? 8) * (unit ?? 1);
          if (little && bits % 8 !== 0) this.fail("little-endian segment size must be whole bytes", at);
          w.push(v, bits, little);
          break;
        }
        case "float": {
          const bits = (size ?? 64) * (unit ?? 1);
          if (bits !== 64 && bits !== 32) this.fail(`float segments of ${bits} bits are not supported`, at);
          const b = Buffer.alloc(bits / 8);
          const x = Number(v);
          if (bits === 64) little ? b.writeDoubleLE(x) : b.writeDoubleBE(x);
          else little ? b.writeFloatLE(x) : b.writeFloatBE(x);
          for (const byte of b) w.push(BigInt(byte), 8, false);
          break;
        }
        case "utf8": case "utf16": case "utf32": {
          if (typeof v === "number" || !isUnicodeScalar(Number(v))) this.fail("not a Unicode character in a utf segment", at);
          if (size !== undefined) this.fail("utf segments take no size", at);
          const cp = Number(v);
          let bytes: number[];
          if (type === "utf8") bytes = utf8Of(cp);
          else if (type === "utf32") bytes = [cp >>> 24, (cp >> 16) & 255, (cp >> 8) & 255, cp & 255];
          else {
            const units = cp > 0xffff ? [0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff)] : [cp];
            bytes = units.flatMap((u) => [u >> 8, u & 255]);
          }
          if (little) {
            const width = type === "utf32" ? 4 : 2;
            const out: number[] = [];
            for (let k = 0; k < bytes.length; k += width) out.push(...bytes.slice(k, k + width).reverse());
            bytes = out;
          }
          for (const byte of bytes) w.push(BigInt(byte), 8, false);
          break;
        }
        default:
          this.fail(`binary segments of type ${type} are not supported in a term file`, at);
      }
    }
  }
}

/** Reads a file:consult/1 file: a sequence of terms, each followed by a dot. */
export function parseTerms(text: string, file = "<input>"): Term[] {
  const p = new Parser(new Scanner(text, file));
  const out: Term[] = [];
  while (!p.atEof()) {
    out.push(p.term());
    p.expectDot();
  }
  return out;
}

/** Reads exactly one term with no final dot (a trailing dot is tolerated). */
export function parseTerm(text: string, file = "<input>"): Term {
  const p = new Parser(new Scanner(text, file));
  const t = p.term();
  if (!p.atEof()) p.expectDot();
  p.expectEof();
  return t;
}
