// Canonical JSON: the one byte encoding that identities (derivation hashes) are computed over.
// Two values that mean the same thing must give the same bytes, and two that differ must not.
//
// The rules:
// - null, true, false as JSON literals.
// - Numbers: safe integers only (-(2^53-1) .. 2^53-1), printed in decimal without exponent or
//   sign for zero. Floats and bigints are refused: their text form is a choice, so values that
//   need them are turned into strings by the caller first.
// - Strings: JSON string syntax as JSON.stringify writes it (", \ and U+0000..U+001F escaped,
//   everything else literal), then UTF-8. No Unicode normalization: NFC and NFD spellings are
//   different bytes in a `.app` or a binary, so they must stay different identities. Lone
//   surrogates are refused, since they have no UTF-8 form.
// - Arrays: elements in order, comma-separated, no whitespace. `undefined` elements are refused.
// - Objects: members sorted by key in code point order (= the order of the keys' UTF-8 bytes),
//   no whitespace. A member whose value is `undefined` is absent, as with JSON.stringify.
//   Duplicate keys cannot occur in a JS object.
// Anything else (functions, symbols, Buffers, class instances other than plain objects) throws,
// so a mistake cannot slip an unstable encoding into a hash.
import { createHash } from "node:crypto";

export type CanonicalValue =
  | null
  | boolean
  | number
  | string
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue | undefined };

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// Code point order. JS `<` on strings compares UTF-16 code units, which disagrees with code
// point order only when a surrogate pair meets a BMP character above U+D7FF.
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x < y ? -1 : 1;
    if (x > 0xffff) i++; // both are the same astral character: skip its low surrogate
  }
  return a.length - b.length;
}

function encodeString(s: string, path: string): string {
  if (LONE_SURROGATE.test(s)) throw new TypeError(`canonical JSON: lone surrogate in string at ${path}`);
  return JSON.stringify(s);
}

function encode(v: unknown, path: string, out: string[]): void {
  if (v === null) {
    out.push("null");
    return;
  }
  switch (typeof v) {
    case "boolean":
      out.push(v ? "true" : "false");
      return;
    case "number":
      if (!Number.isSafeInteger(v)) throw new TypeError(`canonical JSON: ${v} at ${path} is not a safe integer`);
      out.push(Object.is(v, -0) ? "0" : String(v));
      return;
    case "string":
      out.push(encodeString(v, path));
      return;
    case "object":
      break;
    default:
      throw new TypeError(`canonical JSON: cannot encode a ${typeof v} at ${path}`);
  }
  if (Array.isArray(v)) {
    out.push("[");
    v.forEach((item, i) => {
      if (item === undefined) throw new TypeError(`canonical JSON: undefined at ${path}[${i}]`);
      if (i > 0) out.push(",");
      encode(item, `${path}[${i}]`, out);
    });
    out.push("]");
    return;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError(`canonical JSON: ${proto?.constructor?.name ?? "object"} at ${path} is not plain data`);
  }
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort(compareCodePoints);
  out.push("{");
  keys.forEach((k, i) => {
    if (i > 0) out.push(",");
    out.push(encodeString(k, path), ":");
    encode(obj[k], `${path}.${k}`, out);
  });
  out.push("}");
}

export function canonicalJson(value: CanonicalValue): string {
  const out: string[] = [];
  encode(value, "$", out);
  return out.join("");
}

export function canonicalBytes(value: CanonicalValue): Buffer {
  return Buffer.from(canonicalJson(value), "utf8");
}

export function canonicalSha256(value: CanonicalValue): string {
  return createHash("sha256").update(canonicalBytes(value)).digest("hex");
}
