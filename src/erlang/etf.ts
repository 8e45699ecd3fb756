// Erlang's external term format: term_to_binary/1 and binary_to_term/1 for the terms a
// Term can hold (no pids, ports, references, funs or bit strings).
//
// Encoding matches the VM byte for byte:
// - atoms: "otp25" (default) writes Latin-1 atoms as ATOM_EXT (tag 100, Latin-1 bytes) and
//   others as SMALL_ATOM_UTF8_EXT/ATOM_UTF8_EXT, as OTP 25's term_to_binary/1 does; "utf8"
//   writes every atom as SMALL_ATOM_UTF8_EXT/ATOM_UTF8_EXT, as OTP 26+ does;
// - a proper list of 1..65535 integers in 0..255 is a STRING_EXT, whatever Term type holds it;
// - maps are written in Erlang's iteration order (key order up to 32 keys, see order.ts).
//
// Decoding: a STRING_EXT becomes a `string` Term (its bytes as Latin-1 characters), which
// encodes back to the same STRING_EXT; LIST_EXT becomes a `list`. Compressed terms (tag 80)
// are inflated. Anything else is refused with the tag and offset.
import { inflateSync } from "node:zlib";
import { BeamixError } from "../errors.ts";
import { listView, unwrap, type Term } from "./term.ts";
import { mapIterationOrder } from "./order.ts";

const VERSION = 131;
const TAG = {
  COMPRESSED: 80,
  NEW_FLOAT: 70,
  SMALL_INTEGER: 97,
  INTEGER: 98,
  FLOAT: 99,
  ATOM: 100,
  SMALL_TUPLE: 104,
  LARGE_TUPLE: 105,
  NIL: 106,
  STRING: 107,
  LIST: 108,
  BINARY: 109,
  SMALL_BIG: 110,
  LARGE_BIG: 111,
  MAP: 116,
  SMALL_ATOM: 115,
  ATOM_UTF8: 118,
  SMALL_ATOM_UTF8: 119,
} as const;

// Names of tags we recognise but cannot represent, for the error message.
const UNSUPPORTED: Record<number, string> = {
  77: "BIT_BINARY_EXT (bit string)",
  88: "NEW_PID_EXT",
  89: "NEW_PORT_EXT",
  90: "NEWER_REFERENCE_EXT",
  101: "REFERENCE_EXT",
  102: "PORT_EXT",
  103: "PID_EXT",
  112: "NEW_FUN_EXT",
  113: "EXPORT_EXT",
  114: "NEW_REFERENCE_EXT",
  117: "FUN_EXT",
  120: "V4_PORT_EXT",
  82: "ATOM_CACHE_REF",
  68: "DIST_HEADER",
};

export interface EncodeOptions {
  atoms?: "otp25" | "utf8";
}

class Out {
  private chunks: Buffer[] = [];
  byte(b: number): void {
    this.chunks.push(Buffer.from([b]));
  }
  u16(n: number): void {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(n);
    this.chunks.push(b);
  }
  u32(n: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    this.chunks.push(b);
  }
  bytes(b: Buffer): void {
    this.chunks.push(b);
  }
  result(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function encodeAtom(out: Out, name: string, mode: "otp25" | "utf8"): void {
  const cps = Array.from(name, (ch) => ch.codePointAt(0)!);
  if (cps.length > 255) throw new BeamixError(`atom '${name.slice(0, 40)}...' has more than 255 characters`);
  if (mode === "otp25" && cps.every((c) => c <= 0xff)) {
    out.byte(TAG.ATOM);
    out.u16(cps.length);
    out.bytes(Buffer.from(cps));
    return;
  }
  const b = Buffer.from(name, "utf8");
  if (b.length < 256) {
    out.byte(TAG.SMALL_ATOM_UTF8);
    out.byte(b.length);
  } else {
    out.byte(TAG.ATOM_UTF8);
    out.u16(b.length);
  }
  out.bytes(b);
}

function encodeInteger(out: Out, v: bigint): void {
  if (v >= 0n && v <= 255n) {
    out.byte(TAG.SMALL_INTEGER);
    out.byte(Number(v));
    return;
  }
  if (v >= -(2n ** 31n) && v < 2n ** 31n) {
    out.byte(TAG.INTEGER);
    const b = Buffer.alloc(4);
    b.writeInt32BE(Number(v));
    out.bytes(b);
    return;
  }
  // Bignum: sign byte, then the magnitude little-endian.
  let mag = v < 0n ? -v : v;
  const digits: number[] = [];
  while (mag > 0n) {
    digits.push(Number(mag & 0xffn));
    mag >>= 8n;
  }
  if (digits.length < 256) {
    out.byte(TAG.SMALL_BIG);
    out.byte(digits.length);
  } else {
    out.byte(TAG.LARGE_BIG);
    out.u32(digits.length);
  }
  out.byte(v < 0n ? 1 : 0);
  out.bytes(Buffer.from(digits));
}

// The bytes of a proper list the VM would write as STRING_EXT, or null.
function asByteString(items: Term[]): Buffer | null {
  if (items.length === 0 || items.length > 0xffff) return null;
  const b = Buffer.alloc(items.length);
  for (let i = 0; i < items.length; i++) {
    const x = unwrap(items[i]);
    if (x.type !== "integer" || x.value < 0n || x.value > 255n) return null;
    b[i] = Number(x.value);
  }
  return b;
}

function encode(out: Out, t0: Term, mode: "otp25" | "utf8"): void {
  const t = unwrap(t0);
  switch (t.type) {
    case "integer":
      return encodeInteger(out, t.value);
    case "float": {
      if (!Number.isFinite(t.value)) throw new BeamixError(`${t.value} is not an Erlang float`);
      out.byte(TAG.NEW_FLOAT);
      const b = Buffer.alloc(8);
      b.writeDoubleBE(t.value);
      out.bytes(b);
      return;
    }
    case "atom":
      return encodeAtom(out, t.value, mode);
    case "binary":
      out.byte(TAG.BINARY);
      out.u32(t.value.length);
      out.bytes(t.value);
      return;
    case "tuple":
      if (t.items.length < 256) {
        out.byte(TAG.SMALL_TUPLE);
        out.byte(t.items.length);
      } else {
        out.byte(TAG.LARGE_TUPLE);
        out.u32(t.items.length);
      }
      for (const x of t.items) encode(out, x, mode);
      return;
    case "map": {
      out.byte(TAG.MAP);
      out.u32(t.entries.length);
      for (const [k, v] of mapIterationOrder(t.entries)) {
        encode(out, k, mode);
        encode(out, v, mode);
      }
      return;
    }
    case "list":
    case "string": {
      const v = listView(t)!;
      if (v.items.length === 0) {
        out.byte(TAG.NIL);
        return;
      }
      const str = v.tail === null ? asByteString(v.items) : null;
      if (str) {
        out.byte(TAG.STRING);
        out.u16(str.length);
        out.bytes(str);
        return;
      }
      out.byte(TAG.LIST);
      out.u32(v.items.length);
      for (const x of v.items) encode(out, x, mode);
      if (v.tail === null) out.byte(TAG.NIL);
      else encode(out, v.tail, mode);
      return;
    }
  }
}

/** term_to_binary/1 (OTP 25 by default; `atoms: "utf8"` for OTP 26+). */
export function termToBinary(t: Term, opts: EncodeOptions = {}): Buffer {
  const out = new Out();
  out.byte(VERSION);
  encode(out, t, opts.atoms ?? "otp25");
  return out.result();
}

class In {
  pos = 0;
  readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  fail(msg: string): never {
    throw new BeamixError(`external term format: ${msg} at byte ${this.pos}`);
  }
  need(n: number): void {
    if (this.pos + n > this.buf.length) this.fail(`truncated data (need ${n} more bytes)`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  take(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return Buffer.from(b);
  }
}

function decodeBig(inp: In, n: number): Term {
  const sign = inp.u8();
  const digits = inp.take(n);
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(digits[i]);
  return { type: "integer", value: sign ? -v : v };
}

function decode(inp: In): Term {
  const at = inp.pos;
  const tag = inp.u8();
  switch (tag) {
    case TAG.SMALL_INTEGER:
      return { type: "integer", value: BigInt(inp.u8()) };
    case TAG.INTEGER: {
      inp.need(4);
      const v = inp.buf.readInt32BE(inp.pos);
      inp.pos += 4;
      return { type: "integer", value: BigInt(v) };
    }
    case TAG.SMALL_BIG:
      return decodeBig(inp, inp.u8());
    case TAG.LARGE_BIG:
      return decodeBig(inp, inp.u32());
    case TAG.NEW_FLOAT: {
      inp.need(8);
      const v = inp.buf.readDoubleBE(inp.pos);
      inp.pos += 8;
      if (!Number.isFinite(v)) inp.fail("float is not finite");
      return { type: "float", value: v };
    }
    case TAG.FLOAT: {
      // Old 31-byte "%.20e" text float.
      const text = inp.take(31).toString("latin1").replace(/\0.*$/s, "");
      const v = Number(text);
      if (!Number.isFinite(v)) inp.fail(`bad FLOAT_EXT text ${JSON.stringify(text)}`);
      return { type: "float", value: v };
    }
    case TAG.ATOM:
      return { type: "atom", value: inp.take(inp.u16()).toString("latin1") };
    case TAG.SMALL_ATOM:
      return { type: "atom", value: inp.take(inp.u8()).toString("latin1") };
    case TAG.ATOM_UTF8:
      return { type: "atom", value: utf8(inp, inp.u16()) };
    case TAG.SMALL_ATOM_UTF8:
      return { type: "atom", value: utf8(inp, inp.u8()) };
    case TAG.SMALL_TUPLE:
    case TAG.LARGE_TUPLE: {
      const n = tag === TAG.SMALL_TUPLE ? inp.u8() : inp.u32();
      const items: Term[] = [];
      for (let i = 0; i < n; i++) items.push(decode(inp));
      return { type: "tuple", items };
    }
    case TAG.NIL:
      return { type: "list", items: [] };
    case TAG.STRING:
      return { type: "string", value: inp.take(inp.u16()).toString("latin1") };
    case TAG.LIST: {
      const n = inp.u32();
      const items: Term[] = [];
      for (let i = 0; i < n; i++) items.push(decode(inp));
      const tail = decode(inp);
      const tv = listView(tail);
      if (tv !== null && tv.items.length === 0 && tv.tail === null) return { type: "list", items };
      // A tail that is itself a list continues it.
      if (tv !== null) {
        return tv.tail === null ? { type: "list", items: [...items, ...tv.items] } : { type: "list", items: [...items, ...tv.items], tail: tv.tail };
      }
      return { type: "list", items, tail };
    }
    case TAG.BINARY:
      return { type: "binary", value: inp.take(inp.u32()) };
    case TAG.MAP: {
      const n = inp.u32();
      const entries: [Term, Term][] = [];
      for (let i = 0; i < n; i++) {
        const k = decode(inp);
        entries.push([k, decode(inp)]);
      }
      return { type: "map", entries };
    }
  }
  inp.pos = at;
  inp.fail(`unsupported tag ${tag}${UNSUPPORTED[tag] ? ` (${UNSUPPORTED[tag]})` : ""}`);
}

function utf8(inp: In, n: number): string {
  const b = inp.take(n);
  const s = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  try {
    return s.decode(b);
  } catch {
    inp.pos -= n;
    return inp.fail("atom is not valid UTF-8");
  }
}

/** binary_to_term/1 for the term types a Term can hold. */
export function binaryToTerm(buf: Buffer): Term {
  const inp = new In(buf);
  const v = inp.u8();
  if (v !== VERSION) inp.fail(`expected version byte 131, found ${v}`);
  let body = inp;
  if (buf[1] === TAG.COMPRESSED) {
    inp.pos = 2;
    const size = inp.u32();
    let raw: Buffer;
    try {
      raw = inflateSync(buf.subarray(6));
    } catch (e) {
      return inp.fail(`compressed term does not inflate (${(e as Error).message})`);
    }
    if (raw.length !== size) inp.fail(`compressed term inflates to ${raw.length} bytes, header says ${size}`);
    body = new In(raw);
  }
  const t = decode(body);
  if (body.pos !== body.buf.length) body.fail(`${body.buf.length - body.pos} trailing bytes after the term`);
  return t;
}
