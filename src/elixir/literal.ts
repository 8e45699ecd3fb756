// Elixir literal data, read without running Elixir.
//
// parseElixirLiteral reads the subset of Elixir syntax that files such as mix.lock use: maps
// (`%{k => v}`, `%{k: v}`, `%{"k": v}`), tuples, lists (with keyword tails and `| tail`), atoms
// (`:a`, `:"a b"`, `:+`, aliases such as `Foo.Bar`), `true`/`false`/`nil`, strings and charlists
// with escapes, `<<1, 2>>` binaries, integers and `#` comments. Anything else (calls,
// variables, operators, sigils, interpolation, module attributes) is an error naming the
// file, line and column: the text is never evaluated.
//
// Mapping to Term: strings and binaries are `binary`, atoms (including true/false/nil) are
// `atom`, charlists are lists of integers, keyword lists are lists of 2-tuples.
import { BeamixError } from "../errors.ts";
import { MAX_DEPTH } from "../erlang/parse.ts";
import { TermKeys } from "../erlang/term-key.ts";
import { listView, type Term } from "../erlang/term.ts";
import { UNQUOTED_OPERATORS } from "./operators.ts";
import { utf8At } from "./utf8.ts";

const NOT_EVALUATED = "only literal data is read, never evaluated";

const isAsciiDigit = (c: string): boolean => c >= "0" && c <= "9";
const isIdentStart = (c: string): boolean => c === "_" || /^\p{ID_Start}$/u.test(c);
const isIdentContinue = (c: string): boolean => /^\p{ID_Continue}$/u.test(c);
const isUpperAscii = (c: string): boolean => c >= "A" && c <= "Z";
const isAsciiAlnum = (c: string): boolean => /^[A-Za-z0-9_]$/.test(c);
const isSpace = (c: string): boolean => c === " " || c === "\t" || c === "\n" || c === "\r";

class Reader {
  readonly text: string;
  readonly file: string;
  pos = 0;
  private depth = 0; // containers open at the cursor: bounded, as the reader recurses
  private readonly keys = new TermKeys();

  constructor(text: string, file: string) {
    this.text = text;
    this.file = file;
  }

  fail(message: string, at = this.pos): never {
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < at && i < this.text.length; i++) {
      if (this.text[i] === "\n") {
        line++;
        lineStart = i + 1;
      }
    }
    const col = [...this.text.slice(lineStart, at)].length + 1;
    throw new BeamixError(`${this.file}:${line}:${col}: ${message}`);
  }

  peek(offset = 0): string {
    return this.text[this.pos + offset] ?? "";
  }

  // The character (whole code point) at the cursor.
  char(at = this.pos): string {
    const cp = this.text.codePointAt(at);
    return cp === undefined ? "" : String.fromCodePoint(cp);
  }

  startsWith(s: string, at = this.pos): boolean {
    return this.text.startsWith(s, at);
  }

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  skipBlank(): void {
    while (!this.atEnd()) {
      const c = this.peek();
      if (isSpace(c)) this.pos++;
      else if (c === "#") {
        while (!this.atEnd() && this.peek() !== "\n") this.pos++;
      } else break;
    }
  }

  expect(s: string, what: string): void {
    if (!this.startsWith(s)) this.unexpected(what);
    this.pos += s.length;
  }

  // A short rendering of what is at the cursor, for messages.
  describeHere(): string {
    if (this.atEnd()) return "end of file";
    const m = /^(?:[\p{L}\p{N}_.?!@]+|[-+*\/<>=|&^~\\%]+|\S)/u.exec(this.text.slice(this.pos));
    return `"${m ? m[0] : this.char()}"`;
  }

  unexpected(expected: string): never {
    this.fail(`unexpected ${this.describeHere()}, expected ${expected}`);
  }

  // ---- values ----

  value(): Term {
    this.skipBlank();
    const c = this.peek();
    if (c === "") this.fail("unexpected end of file, expected a value");
    if (this.startsWith("%{")) return this.nested(() => this.mapLiteral());
    if (c === "%") this.fail(`structs are not allowed: ${NOT_EVALUATED}`);
    if (c === "{") return this.nested(() => this.tupleLiteral());
    if (c === "[") return this.nested(() => this.listLiteral());
    if (this.startsWith("<<")) return this.binaryLiteral();
    if (c === '"') return { type: "binary", value: this.quoted('"') };
    if (c === "'") return charlist(this.quoted("'"));
    if (c === ":" && this.peek(1) !== ":") return this.atomLiteral();
    if (isAsciiDigit(c) || (c === "-" && isAsciiDigit(this.peek(1)))) return this.integer();
    if (c === "~") this.fail(`sigils are not allowed: ${NOT_EVALUATED}`);
    if (c === "?") this.fail(`character literals are not allowed: ${NOT_EVALUATED}`);
    if (c === "@") this.fail(`module attributes are not allowed: ${NOT_EVALUATED}`);
    if (c === "&") this.fail(`function captures are not allowed: ${NOT_EVALUATED}`);
    const ch = this.char();
    if (isUpperAscii(ch)) return this.alias();
    if (isIdentStart(ch)) return this.identifier();
    this.fail(`unexpected ${this.describeHere()}: ${NOT_EVALUATED}`);
  }

  private nested(read: () => Term): Term {
    if (++this.depth > MAX_DEPTH) this.fail(`terms nested more than ${MAX_DEPTH} levels deep`);
    const t = read();
    this.depth--;
    return t;
  }

  // After an element: a separator, the closing bracket, or an error that names what was found
  // (an operator such as `<>` or `++`, a call, ...), since only literals are allowed.
  afterElement(close: string): "sep" | "close" | "bar" {
    this.skipBlank();
    if (this.peek() === ",") {
      this.pos++;
      return "sep";
    }
    if (this.startsWith(close)) {
      this.pos += close.length;
      return "close";
    }
    if (this.peek() === "|" && this.peek(1) !== "|" && this.peek(1) !== ">") {
      this.pos++;
      return "bar";
    }
    if (this.peek() === "(") this.fail(`function calls are not allowed: ${NOT_EVALUATED}`);
    this.fail(`unexpected ${this.describeHere()}, expected "," or "${close}": ${NOT_EVALUATED}`);
  }

  // `key: ` at the cursor (an identifier, alias, quoted or operator key followed by a colon
  // and a space): returns the atom name and moves past it, or returns null and stays put.
  keywordKey(): string | null {
    const start = this.pos;
    if (this.peek() === '"') {
      // A quoted key: only if the closing quote is followed by ": ".
      const end = this.scanQuotedEnd('"');
      if (end !== null && this.text[end] === ":" && isKeySpace(this.text[end + 1])) {
        const name = atomName(this.quoted('"'), this, start);
        this.pos++; // the colon
        return name;
      }
      return null;
    }
    let name = this.scanIdentifierAt(this.pos);
    if (name === null) {
      name = UNQUOTED_OPERATORS.find((op) => this.startsWith(op)) ?? null;
    }
    if (name === null) return null;
    const after = this.pos + name.length;
    if (this.text[after] === ":" && this.text[after + 1] !== ":" && isKeySpace(this.text[after + 1])) {
      this.pos = after + 1;
      return name;
    }
    return null;
  }

  // An identifier-like name at `at` (letters, digits, `_`, `@`, then an optional ? or !).
  scanIdentifierAt(at: number): string | null {
    const first = this.char(at);
    if (first === "" || !isIdentStart(first)) return null;
    let i = at + first.length;
    for (;;) {
      const c = this.char(i);
      if (c !== "" && (isIdentContinue(c) || c === "@")) i += c.length;
      else break;
    }
    if (this.text[i] === "?" || this.text[i] === "!") i++;
    return this.text.slice(at, i);
  }

  // Elements up to `close`, with an optional keyword tail (`[1, a: 2]`, `{:x, a: 1}`) and,
  // when `allowBar`, an improper tail (`[1 | 2]`).
  elements(close: string, allowBar: boolean): { items: Term[]; pairs: Term[]; tail?: Term } {
    const items: Term[] = [];
    const pairs: Term[] = [];
    this.skipBlank();
    if (this.startsWith(close)) {
      this.pos += close.length;
      return { items, pairs };
    }
    for (;;) {
      this.skipBlank();
      const keyAt = this.pos;
      const key = this.keywordKey();
      if (key !== null) {
        pairs.push({ type: "tuple", items: [{ type: "atom", value: key }, this.value()] });
      } else {
        if (pairs.length > 0) this.fail("keyword pairs must come last", keyAt);
        items.push(this.value());
      }
      const next = this.afterElement(close);
      if (next === "close") return { items, pairs };
      if (next === "bar") {
        if (!allowBar || pairs.length > 0) this.fail(`unexpected "|": ${NOT_EVALUATED}`, this.pos - 1);
        const tail = this.value();
        this.skipBlank();
        this.expect(close, `"${close}"`);
        return { items, pairs, tail };
      }
      this.skipBlank();
      if (this.startsWith(close)) {
        // A trailing comma is allowed.
        this.pos += close.length;
        return { items, pairs };
      }
    }
  }

  listLiteral(): Term {
    this.pos++; // [
    const { items, pairs, tail } = this.elements("]", true);
    const all = [...items, ...pairs];
    if (tail === undefined) return { type: "list", items: all };
    // `[1 | [2]]` is `[1, 2]`; only a non-list tail makes an improper list.
    const view = listView(tail);
    if (view === null) return { type: "list", items: all, tail };
    return view.tail === null
      ? { type: "list", items: [...all, ...view.items] }
      : { type: "list", items: [...all, ...view.items], tail: view.tail };
  }

  tupleLiteral(): Term {
    this.pos++; // {
    const { items, pairs } = this.elements("}", false);
    if (pairs.length > 0) items.push({ type: "list", items: pairs });
    return { type: "tuple", items };
  }

  mapLiteral(): Term {
    this.pos += 2; // %{
    const entries: [Term, Term][] = [];
    const seen = new Set<string>(); // keys by TermKeys: no comparing every pair
    let keyword = false;
    const add = (k: Term, v: Term, at: number): void => {
      const key = this.keys.key(k);
      if (seen.has(key)) this.fail("duplicate key in map", at);
      seen.add(key);
      entries.push([k, v]);
    };
    this.skipBlank();
    if (this.peek() === "}") {
      this.pos++;
      return { type: "map", entries };
    }
    for (;;) {
      this.skipBlank();
      const at = this.pos;
      const key = this.keywordKey();
      if (key !== null) {
        keyword = true;
        add({ type: "atom", value: key }, this.value(), at);
      } else {
        if (keyword) this.fail("keyword pairs must come last in a map", at);
        const k = this.value();
        this.skipBlank();
        if (this.peek() === "|") this.fail(`map updates are not allowed: ${NOT_EVALUATED}`);
        this.expect("=>", '"=>"');
        add(k, this.value(), at);
      }
      const next = this.afterElement("}");
      if (next === "close") break;
      if (next === "bar") this.fail(`unexpected "|": ${NOT_EVALUATED}`, this.pos - 1);
      this.skipBlank();
      if (this.peek() === "}") {
        this.pos++;
        break;
      }
    }
    return { type: "map", entries };
  }

  binaryLiteral(): Term {
    this.pos += 2; // <<
    const bytes: number[] = [];
    this.skipBlank();
    if (this.startsWith(">>")) {
      this.pos += 2;
      return { type: "binary", value: Buffer.alloc(0) };
    }
    for (;;) {
      this.skipBlank();
      const at = this.pos;
      const c = this.peek();
      if (c === '"') for (const b of this.quoted('"')) bytes.push(b); // not push(...): a long string overflows the stack
      else if (isAsciiDigit(c)) {
        const v = this.integer();
        if (v.type !== "integer" || v.value > 255n) this.fail("a binary segment must be an integer from 0 to 255", at);
        bytes.push(Number(v.value));
      } else this.unexpected("an integer or a string in a binary");
      this.skipBlank();
      if (this.startsWith("::")) this.fail(`binary segment types are not supported: ${NOT_EVALUATED}`);
      if (this.peek() === ",") {
        this.pos++;
        continue;
      }
      this.expect(">>", '"," or ">>"');
      return { type: "binary", value: Buffer.from(bytes) };
    }
  }

  integer(): Term {
    const start = this.pos;
    let negative = false;
    if (this.peek() === "-") {
      negative = true;
      this.pos++;
    }
    let digits: string;
    let radix = 10;
    const prefix = this.text.slice(this.pos, this.pos + 2);
    const classes: Record<string, [number, RegExp]> = {
      "0x": [16, /[0-9a-fA-F]/],
      "0o": [8, /[0-7]/],
      "0b": [2, /[01]/],
    };
    const cls = classes[prefix];
    if (cls !== undefined) {
      radix = cls[0];
      this.pos += 2;
      digits = this.digits(cls[1]);
    } else {
      digits = this.digits(/[0-9]/);
      if (this.peek() === "." && isAsciiDigit(this.peek(1))) {
        this.fail("floats are not supported in this file", start);
      }
    }
    if (digits === "") this.fail("malformed number", start);
    const next = this.char();
    if (next !== "" && isIdentContinue(next)) this.fail("malformed number", start);
    // V8 reads 0x/0o/0b and decimal digits in linear time; a multiply per digit is quadratic.
    const value = BigInt(({ 16: "0x", 8: "0o", 2: "0b", 10: "" } as Record<number, string>)[radix] + digits);
    return { type: "integer", value: negative ? -value : value };
  }

  // Digits of a class, with single underscores between them (`1_000`).
  digits(cls: RegExp): string {
    let out = "";
    while (!this.atEnd()) {
      const c = this.peek();
      if (cls.test(c)) {
        out += c;
        this.pos++;
      } else if (c === "_" && out !== "" && cls.test(this.peek(1))) {
        this.pos++;
      } else break;
    }
    return out;
  }

  atomLiteral(): Term {
    const start = this.pos;
    this.pos++; // :
    if (this.peek() === '"') {
      return { type: "atom", value: atomName(this.quoted('"'), this, start) };
    }
    const name = this.scanIdentifierAt(this.pos);
    if (name !== null) {
      this.pos += name.length;
      return { type: "atom", value: name };
    }
    const op = UNQUOTED_OPERATORS.find((o) => this.startsWith(o));
    if (op !== undefined) {
      this.pos += op.length;
      return { type: "atom", value: op };
    }
    this.fail("malformed atom", start);
  }

  // `Foo.Bar` is the atom :"Elixir.Foo.Bar"; `Foo.bar` or `Foo.bar()` is a call.
  alias(): Term {
    const start = this.pos;
    const parts: string[] = [];
    for (;;) {
      let i = this.pos + 1;
      while (i < this.text.length && isAsciiAlnum(this.text[i])) i++;
      parts.push(this.text.slice(this.pos, i));
      this.pos = i;
      if (this.peek() === "." && isUpperAscii(this.peek(1))) {
        this.pos++;
        continue;
      }
      break;
    }
    const name = parts.join(".");
    if (this.peek() === "." || this.peek() === "(") {
      const fun = this.peek() === "." ? this.scanIdentifierAt(this.pos + 1) : null;
      const callee = fun === null ? name : `${name}.${fun}`;
      this.fail(`function calls are not allowed (${callee}): ${NOT_EVALUATED}`, start);
    }
    if (this.peek() === "{") this.fail(`structs are not allowed: ${NOT_EVALUATED}`, start);
    return { type: "atom", value: parts[0] === "Elixir" ? name : `Elixir.${name}` };
  }

  identifier(): Term {
    const start = this.pos;
    const name = this.scanIdentifierAt(this.pos)!;
    this.pos += name.length;
    if (name === "true" || name === "false" || name === "nil") return { type: "atom", value: name };
    let i = this.pos;
    while (this.text[i] === " " || this.text[i] === "\t") i++;
    const isCall = this.text[i] === "(" || this.text[i] === "." || /^[\p{L}\p{N}_"'[{:%<-]/u.test(this.text[i] ?? "");
    this.fail(
      isCall
        ? `function calls are not allowed (${name}): ${NOT_EVALUATED}`
        : `variables are not allowed (${name}): ${NOT_EVALUATED}`,
      start,
    );
  }

  // Where the quoted text starting at the cursor ends (index after the closing quote), or null.
  scanQuotedEnd(q: string): number | null {
    let i = this.pos + 1;
    while (i < this.text.length) {
      const c = this.text[i];
      if (c === "\\") i += 2;
      else if (c === q) return i + 1;
      else i++;
    }
    return null;
  }

  // The bytes of a "..." or '...' literal, escapes applied. Interpolation is refused.
  quoted(q: string): Buffer {
    const start = this.pos;
    if (this.startsWith(q.repeat(3))) this.fail(`heredocs are not supported: ${NOT_EVALUATED}`);
    this.pos++;
    const out: number[] = [];
    const pushCodePoint = (cp: number): void => {
      if (cp < 0x80) out.push(cp); // most of a lock: no Buffer per character
      else for (const b of Buffer.from(String.fromCodePoint(cp), "utf8")) out.push(b);
    };
    for (;;) {
      if (this.atEnd()) this.fail(`missing terminator ${q}`, start);
      const c = this.peek();
      if (c === q) {
        this.pos++;
        return Buffer.from(out);
      }
      if (c === "#" && this.peek(1) === "{") this.fail(`string interpolation is not allowed: ${NOT_EVALUATED}`);
      if (c !== "\\") {
        const ch = this.char();
        pushCodePoint(ch.codePointAt(0)!);
        this.pos += ch.length;
        continue;
      }
      const escAt = this.pos;
      this.pos++;
      const e = this.char();
      if (e === "") this.fail(`missing terminator ${q}`, start);
      this.pos += e.length;
      const simple: Record<string, number> = { a: 7, b: 8, d: 127, e: 27, f: 12, n: 10, r: 13, s: 32, t: 9, v: 11, "0": 0 };
      if (e in simple) out.push(simple[e]);
      else if (e === "\n") {
        // line continuation
      } else if (e === "\r" && this.peek() === "\n") this.pos++;
      else if (e === "x") {
        if (this.peek() === "{") pushCodePoint(this.hexBraces(escAt));
        else {
          const h = this.hexRun(2);
          if (h === "") this.fail("malformed \\x escape", escAt);
          out.push(parseInt(h, 16));
        }
      } else if (e === "u") {
        let cp: number;
        if (this.peek() === "{") cp = this.hexBraces(escAt);
        else {
          const h = this.hexRun(4);
          if (h.length !== 4) this.fail("malformed \\u escape", escAt);
          cp = parseInt(h, 16);
        }
        if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) this.fail("invalid code point in \\u escape", escAt);
        pushCodePoint(cp);
      } else pushCodePoint(e.codePointAt(0)!);
    }
  }

  hexRun(max: number): string {
    let h = "";
    while (h.length < max && /[0-9a-fA-F]/.test(this.peek())) h += this.text[this.pos++];
    return h;
  }

  hexBraces(escAt: number): number {
    this.pos++; // {
    const h = this.hexRun(6);
    if (h === "" || this.peek() !== "}") this.fail("malformed escape", escAt);
    this.pos++;
    const cp = parseInt(h, 16);
    if (cp > 0x10ffff) this.fail("invalid code point in escape", escAt);
    return cp;
  }
}

const isKeySpace = (c: string | undefined): boolean => c === undefined || isSpace(c);

function charlist(bytes: Buffer): Term {
  // Characters, not bytes: `'é'` is [233]. A \xHH escape gives that number as a character.
  return { type: "list", items: decodeChars(bytes).map((n): Term => ({ type: "integer", value: BigInt(n) })) };
}

// Code points of UTF-8 text; stray bytes (from \xHH escapes) count as themselves.
function decodeChars(bytes: Buffer): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < bytes.length) {
    const cp = utf8At(bytes, i);
    if (cp === null) {
      out.push(bytes[i]);
      i++;
    } else {
      out.push(cp.cp);
      i += cp.len;
    }
  }
  return out;
}

function atomName(bytes: Buffer, r: Reader, at: number): string {
  const name = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  try {
    return name.decode(bytes);
  } catch {
    r.fail("an atom must be valid UTF-8", at);
  }
}

export function parseElixirLiteral(text: string, file = "<input>"): Term {
  const r = new Reader(text, file);
  const value = r.value();
  r.skipBlank();
  if (!r.atEnd()) {
    if (r.peek() === "(") r.fail(`function calls are not allowed: ${NOT_EVALUATED}`);
    r.fail(`unexpected ${r.describeHere()} after the value: ${NOT_EVALUATED}`);
  }
  return value;
}

