// A reader for Erlang term text as file:consult/1 accepts it (erl_scan + erl_parse:parse_term):
// literals only (no variables, operators other than a sign on a number, records or funs).
//
// Values follow Erlang exactly, so that what Erlang's printer writes reads back unchanged:
// - a binary string segment without a type stores each character truncated to 8 bits, as
//   Erlang does (`<<"é">>` is <<233>>); `<<"é"/utf8>>` stores its UTF-8 encoding;
// - `"..."` is a string term, `""` the empty string (an empty list); a list whose tail is a
//   list is flattened (`[1|[2]]` is `[1,2]`); adjacent strings are concatenated;
// - `$c` is an integer; a repeated map key keeps its last value.
//
// The text may come from anyone (every package tarball carries one), so the cost of reading it
// is linear in its length and bounded in memory, and what Erlang would accept but no real file
// holds is refused with the limit it broke: nesting deeper than MAX_DEPTH (a list's tail does not
// count: `[a|[b|[c]]]` is one flat list), numbers of more than MAX_DIGITS digits, and binaries
// holding more than BINARY_BYTES_PER_CHAR bytes per character of text (plus BINARY_BYTES_BASE),
// which a 12-byte `<<0:50000000>>` would otherwise turn into megabytes.
import { BeamixError } from "../errors.ts";
import { TermKeys } from "./term-key.ts";
import { isAtomStart, isNameChar, isReservedWord } from "./write.ts";
import type { Term } from "./term.ts";

export const MAX_DEPTH = 1000;
export const MAX_DIGITS = 10_000;
export const BINARY_BYTES_PER_CHAR = 8;
export const BINARY_BYTES_BASE = 64 * 1024;

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

// Messages stay one short line whatever the input holds.
const clip = (s: string): string => (s.length > 40 ? `${s.slice(0, 40)}...` : s);
const shown = (s: string): string => (/[\x00-\x1f\x7f]/.test(s) ? JSON.stringify(s) : s);

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
      return `variable ${clip(t.v)}`;
    case "reserved":
      return `reserved word ${t.v}`;
    case "atom":
      return `atom ${shown(t.v)}`;
    default:
      return `${t.k} ${clip(String(t.v))}`;
  }
}

// The value of digits in a base: V8 converts bases 2, 8, 10 and 16 itself in linear time; other
// bases go a chunk of digits at a time (each chunk exact in a double).
function integerOf(digits: string, base: number): bigint {
  const prefix = ({ 2: "0b", 8: "0o", 10: "", 16: "0x" } as Record<number, string>)[base];
  if (prefix !== undefined) return BigInt(prefix + digits);
  const width = Math.floor(53 / Math.log2(base));
  let v = 0n;
  for (let k = 0; k < digits.length; k += width) {
    const chunk = digits.slice(k, k + width);
    v = v * BigInt(base) ** BigInt(chunk.length) + BigInt(parseInt(chunk, base));
  }
  return v;
}

class Scanner {
  private readonly text: string;
  private i = 0; // UTF-16 index into text
  private line = 1;
  private col = 1; // in characters (code points)
  private readonly file: string;
  constructor(text: string, file: string) {
    this.file = file;
    this.text = text;
  }

  get length(): number {
    return this.text.length;
  }

  fail(line: number, col: number, msg: string): never {
    throw new BeamixError(`${this.file}:${line}:${col}: ${msg}`);
  }

  // The code point `o` characters ahead, or -1 past the end.
  private peek(o = 0): number {
    let j = this.i;
    for (let k = 0; k < o && j < this.text.length; k++) j += this.text.codePointAt(j)! > 0xffff ? 2 : 1;
    return j < this.text.length ? this.text.codePointAt(j)! : -1;
  }

  private advance(): number {
    const c = this.text.codePointAt(this.i)!;
    this.i += c > 0xffff ? 2 : 1;
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
    const at = (t: Tok): Token => {
      const token = t as Token;
      token.line = line;
      token.col = col;
      return token;
    };
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
      const start = this.i;
      while (isNameChar(this.peek())) this.advance();
      const s = this.text.slice(start, this.i);
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
      if (this.text.startsWith(p, this.i)) {
        for (let k = 0; k < p.length; k++) this.advance();
        return at({ k: "punct", v: p });
      }
    }
    const ch = String.fromCodePoint(c);
    this.fail(line, col, `unexpected character '${/[\p{Cc}\p{Zl}\p{Zp}]/u.test(ch) ? `\\x{${c.toString(16).toUpperCase()}}` : ch}'`);
  }

  // Digits of `base` with `_` allowed between two digits (OTP 23+); at most MAX_DIGITS of them.
  private digits(base: number, line: number, col: number): string {
    const val = (c: number): number => {
      if (isDigit(c)) return c - 0x30;
      if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 10;
      if (c >= 0x41 && c <= 0x5a) return c - 0x41 + 10;
      return 99;
    };
    let s = "";
    let start = this.i;
    let n = 0;
    for (;;) {
      const c = this.peek();
      if (val(c) < base) {
        this.advance();
        if (++n > MAX_DIGITS) this.fail(line, col, `number of more than ${MAX_DIGITS} digits`);
      } else if (c === 0x5f && n > 0 && val(this.peek(1)) < base) {
        s += this.text.slice(start, this.i);
        this.advance();
        start = this.i;
      } else break;
    }
    s += this.text.slice(start, this.i);
    if (s === "") this.fail(line, col, `expected a base-${base} digit`);
    return s;
  }

  private number(line: number, col: number): Tok {
    const whole = this.digits(10, line, col);
    if (this.peek() === 0x23 /* # */) {
      const base = Number(whole);
      if (base < 2 || base > 36) this.fail(line, col, `illegal base ${clip(whole)}`);
      this.advance();
      return { k: "int", v: integerOf(this.digits(base, this.line, this.col), base) };
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
      if (!Number.isFinite(v)) this.fail(line, col, `float ${clip(text)} out of range`);
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
        const start = this.i;
        while (hex(this.peek())) this.advance();
        const s = this.text.slice(start, this.i);
        if (this.peek() !== 0x7d || s === "") this.fail(line, col, "expected hex digits and '}' in \\x{...}");
        this.advance();
        const v = parseInt(s, 16);
        if (!isUnicodeScalar(v)) this.fail(line, col, `\\x{${clip(s)}} is not a Unicode character`);
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

  // Runs of plain characters are sliced whole: a megabyte string costs a few copies, not a
  // concatenation per character.
  private quoted(q: number, line: number, col: number): string {
    this.advance();
    let s = "";
    let start = this.i;
    for (;;) {
      const c = this.peek();
      if (c === -1) this.fail(line, col, `unterminated ${q === 0x22 ? "string" : "quoted atom"}`);
      if (c !== q && c !== 0x5c) {
        this.advance();
        continue;
      }
      s += this.text.slice(start, this.i);
      this.advance();
      if (c === q) return s;
      s += String.fromCodePoint(this.escape());
      start = this.i;
    }
  }
}

// The bits of a binary under construction, packed into bytes as they come. A writer is used
// again for the next binary (see take()): a megabyte of small binaries allocates no buffer each.
class BitWriter {
  private buf = new Uint8Array(256);
  bits = 0;

  private room(n: number): void {
    const need = (this.bits + n + 7) >> 3;
    if (need <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(need, 2 * this.buf.length));
    grown.set(this.buf);
    this.buf = grown;
  }

  // The low `size` bits (at most 32) of n, most significant first.
  small(n: number, size: number): void {
    this.room(size);
    if (size === 8 && (this.bits & 7) === 0) {
      this.buf[this.bits >> 3] = n & 0xff;
      this.bits += 8;
      return;
    }
    for (let rem = size; rem > 0; ) {
      const free = 8 - (this.bits & 7);
      const take = Math.min(rem, free);
      this.buf[this.bits >> 3] |= ((n >>> (rem - take)) & ((1 << take) - 1)) << (free - take);
      this.bits += take;
      rem -= take;
    }
  }

  // An integer segment: `size` bits of value (two's complement), whole bytes reversed when little.
  integer(value: bigint, size: number, little: boolean): void {
    if (size === 0) return;
    if (size <= 32 && value >= -0x80000000n && value <= 0x7fffffffn) {
      this.int32(Number(value), size, little);
      return;
    }
    const bytes = Buffer.from(BigInt.asUintN(size, value).toString(16).padStart(Math.ceil(size / 8) * 2, "0"), "hex");
    if (little) bytes.reverse();
    // The first byte holds the 1..8 leading bits; the rest are whole bytes.
    this.small(bytes[0], size - 8 * (bytes.length - 1));
    const rest = bytes.subarray(1);
    if ((this.bits & 7) === 0) {
      this.room(8 * rest.length);
      this.buf.set(rest, this.bits >> 3);
      this.bits += 8 * rest.length;
    } else for (const b of rest) this.small(b, 8);
  }

  // An integer segment of at most 32 bits whose value fits in 32 bits.
  int32(n: number, size: number, little: boolean): void {
    if (!little) this.small(n, size);
    else for (let k = 0; k < size; k += 8) this.small(n >>> k, 8);
  }

  // The binary written so far; the writer is then empty again.
  take(): Buffer {
    const n = this.bits >> 3;
    const out = Buffer.from(this.buf.subarray(0, n));
    this.buf.fill(0, 0, n + 1);
    this.bits = 0;
    return out;
  }
}

function utf8Of(cp: number): number[] {
  return [...Buffer.from(String.fromCodePoint(cp), "utf8")];
}

class Parser {
  private tok: Token;
  private readonly sc: Scanner;
  private readonly keys = new TermKeys();
  private readonly writers: BitWriter[] = [];
  private depth = 0;
  private readonly binaryLimit: number; // bytes all binaries of the text may hold together
  private binaryBitsLeft: number;

  constructor(sc: Scanner) {
    this.sc = sc;
    this.binaryLimit = BINARY_BYTES_BASE + BINARY_BYTES_PER_CHAR * sc.length;
    this.binaryBitsLeft = 8 * this.binaryLimit;
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

  // Each tuple, list, map and binary is one level; the reader and everything that walks the
  // result recurse, so the depth is bounded to stay far from the stack's end.
  private enter(at: Token): void {
    if (++this.depth > MAX_DEPTH) this.fail(`terms nested more than ${MAX_DEPTH} levels deep`, at);
  }

  private leave(): void {
    this.depth--;
  }

  private spendBinary(bits: number, at: Token): void {
    if (bits > this.binaryBitsLeft) this.overLimit(bits, at);
    this.binaryBitsLeft -= bits;
  }

  private overLimit(bits: bigint | number, at: Token): never {
    this.fail(
      `binary segment of ${clip(String(bits))} bits goes over the limit of ${this.binaryLimit} bytes of binaries for this file ` +
        `(${BINARY_BYTES_PER_CHAR} per character of text, plus ${BINARY_BYTES_BASE / 1024} KiB)`,
      at,
    );
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
    this.enter(this.advance());
    const items: Term[] = [];
    if (!this.isPunct("}")) {
      for (;;) {
        items.push(this.term());
        if (this.isPunct(",")) this.advance();
        else break;
      }
    }
    this.expect("}", "',' or '}'");
    this.leave();
    return { type: "tuple", items };
  }

  // [a|[b]] is [a,b] and [a|"bc"] is [a,$b,$c]. A tail that is a list is read on into the same
  // array, so a chain of tails costs neither depth nor copies.
  private list(): Term {
    this.enter(this.advance());
    const items: Term[] = [];
    let open = 0; // '[' read whose ']' is still to come
    let tail: Term | undefined;
    let afterTail = false;
    elements: for (;;) {
      open++;
      if (this.isPunct("]")) {
        this.advance();
        open--;
        break;
      }
      for (;;) {
        items.push(this.term());
        if (this.isPunct(",")) {
          this.advance();
          continue;
        }
        if (this.isPunct("|")) {
          this.advance();
          if (this.isPunct("[")) {
            this.advance();
            continue elements;
          }
          afterTail = true;
          const t = this.term();
          if (t.type === "string") {
            for (const ch of t.value) items.push({ type: "integer", value: BigInt(ch.codePointAt(0)!) });
          } else tail = t;
        }
        break;
      }
      this.expect("]", afterTail ? "']'" : "',', '|' or ']'");
      open--;
      break;
    }
    for (; open > 0; open--) this.expect("]", "']'");
    this.leave();
    return tail === undefined ? { type: "list", items } : { type: "list", items, tail };
  }

  // A repeated key keeps its last value, in the last key's place, as before: found through
  // TermKeys, not by comparing every pair of keys.
  private map(): Term {
    this.enter(this.advance());
    const entries: ([Term, Term] | undefined)[] = [];
    const index = new Map<string, number>();
    let repeated = false;
    if (!this.isPunct("}")) {
      for (;;) {
        const k = this.term();
        this.expect("=>", "'=>'");
        const v = this.term();
        const id = this.keys.key(k);
        const before = index.get(id);
        if (before !== undefined) {
          entries[before] = undefined;
          repeated = true;
        }
        index.set(id, entries.length);
        entries.push([k, v]);
        if (this.isPunct(",")) this.advance();
        else break;
      }
    }
    this.expect("}", "',' or '}'");
    this.leave();
    return { type: "map", entries: (repeated ? entries.filter((e) => e !== undefined) : entries) as [Term, Term][] };
  }

  private binary(): Term {
    const start = this.advance();
    this.enter(start);
    // A segment's value may itself be a binary (refused once read): hence a pool, not one writer.
    const w = this.writers.pop() ?? new BitWriter();
    if (!this.isPunct(">>")) {
      for (;;) {
        this.segment(w);
        if (this.isPunct(",")) this.advance();
        else break;
      }
    }
    this.expect(">>", "',' or '>>'");
    if (w.bits % 8 !== 0) this.fail(`binary of ${w.bits} bits is not a whole number of bytes`, start);
    this.leave();
    const value = w.take();
    this.writers.push(w);
    return { type: "binary", value };
  }

  private segment(w: BitWriter): void {
    const at = this.tok;
    // Value: a number (optionally signed), a character or string(s).
    let text: string | undefined;
    let value: bigint | number = 0n;
    if (this.tok.k === "string") {
      text = this.strings();
    } else {
      const v = this.term();
      if (v.type === "integer" || v.type === "float") value = v.value;
      else this.fail("expected a number, character or string in a binary segment", at);
    }
    let size: bigint | undefined;
    if (this.isPunct(":")) {
      this.advance();
      const s = this.tok;
      if (s.k !== "int") this.expected("a segment size");
      this.advance();
      size = s.v;
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
            if (u.v < 1n || u.v > 256n) this.fail(`unit ${clip(String(u.v))} is not from 1 to 256`);
            this.advance();
            unit = Number(u.v);
            break;
          }
          default:
            this.fail(`unknown binary segment type ${shown(s.v)}`, s);
        }
        if (this.isPunct("-")) this.advance();
        else break;
      }
    }
    if (text === "") return; // no values: nothing to check or write
    const each = (f: (v: bigint | number) => void): void => {
      if (text === undefined) f(value);
      else for (const ch of text) f(BigInt(ch.codePointAt(0)!));
    };
    switch (type) {
      case "integer": {
        if (typeof value === "number") this.fail("a float segment needs the /float type", at);
        const big = (size ?? 8n) * BigInt(unit ?? 1);
        if (little && big % 8n !== 0n) this.fail("little-endian segment size must be whole bytes", at);
        // Checked before anything is built: `<<0:50000000>>` costs nothing.
        if (big > BigInt(this.binaryBitsLeft)) this.overLimit(big, at);
        const bits = Number(big);
        if (text === undefined) {
          this.spendBinary(bits, at);
          w.integer(value, bits, little);
        } else if (bits <= 32) {
          // Characters of a string: plain numbers, no bigints.
          for (const ch of text) {
            this.spendBinary(bits, at);
            w.int32(ch.codePointAt(0)!, bits, little);
          }
        } else {
          each((v) => {
            this.spendBinary(bits, at);
            w.integer(v as bigint, bits, little);
          });
        }
        break;
      }
      case "float": {
        const bits = (size ?? 64n) * BigInt(unit ?? 1);
        if (bits !== 64n && bits !== 32n) this.fail(`float segments of ${clip(String(bits))} bits are not supported`, at);
        each((v) => {
          this.spendBinary(Number(bits), at);
          const b = Buffer.alloc(Number(bits) / 8);
          const x = Number(v);
          if (bits === 64n) little ? b.writeDoubleLE(x) : b.writeDoubleBE(x);
          else little ? b.writeFloatLE(x) : b.writeFloatBE(x);
          for (const byte of b) w.small(byte, 8);
        });
        break;
      }
      case "utf8": case "utf16": case "utf32":
        each((v) => {
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
          this.spendBinary(8 * bytes.length, at);
          for (const byte of bytes) w.small(byte, 8);
        });
        break;
      default:
        this.fail(`binary segments of type ${type} are not supported in a term file`, at);
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
