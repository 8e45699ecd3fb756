import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { canonicalBytes, canonicalJson, canonicalSha256, compareCodePoints, type CanonicalValue } from "../src/derivation/canonical.ts";

test("objects: members sorted by key, no whitespace, nested", () => {
  const v = { zeta: 1, alpha: { b: [true, false, null], a: "x" }, mid: [] };
  assert.equal(canonicalJson(v), '{"alpha":{"a":"x","b":[true,false,null]},"mid":[],"zeta":1}');
});

test("key order of the input does not matter, array order does", () => {
  assert.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
  assert.notEqual(canonicalJson([1, 2]), canonicalJson([2, 1]));
});

test("keys sort by code point, not by UTF-16 code unit", () => {
  // U+FB01 is one code unit 0xFB01; U+1F600 is the pair 0xD83D 0xDE00. JS's default sort puts
  // the emoji first (0xD83D < 0xFB01); code point (and UTF-8 byte) order puts U+FB01 first.
  const fi = "\uFB01";
  const smile = "\u{1F600}";
  assert.deepEqual([fi, smile].sort(), [smile, fi]);
  assert.equal(canonicalJson({ [smile]: 1, [fi]: 2 }), `{"${fi}":2,"${smile}":1}`);
  const byUtf8 = [smile, fi, "z", "a", "é"].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  assert.deepEqual([smile, fi, "z", "a", "é"].sort(compareCodePoints), byUtf8);
  assert.ok(compareCodePoints("ab", "abc") < 0);
  assert.equal(compareCodePoints("same", "same"), 0);
});

test("strings use JSON escapes and stay unnormalized (NFC and NFD differ)", () => {
  assert.equal(canonicalJson('q"b\\s\n\u0001é'), '"q\\"b\\\\s\\n\\u0001é"');
  const nfc = "\u00e9";
  const nfd = "e\u0301";
  assert.notEqual(canonicalJson(nfc), canonicalJson(nfd));
  assert.deepEqual(canonicalBytes("é"), Buffer.from('"é"', "utf8"));
});

test("numbers: safe integers only; -0 is 0", () => {
  assert.equal(canonicalJson([0, -0, 42, -7, Number.MAX_SAFE_INTEGER]), "[0,0,42,-7,9007199254740991]");
  assert.throws(() => canonicalJson(1.5), /not a safe integer/);
  assert.throws(() => canonicalJson(2 ** 53), /not a safe integer/);
  assert.throws(() => canonicalJson(Number.NaN), /not a safe integer/);
});

test("undefined members are absent; undefined array elements are refused", () => {
  assert.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}');
  assert.equal(canonicalJson({ a: undefined, b: 1 }), canonicalJson({ b: 1 }));
  assert.throws(() => canonicalJson([undefined] as unknown as CanonicalValue), /undefined at \$\[0\]/);
});

test("non-plain values are refused with their path", () => {
  assert.throws(() => canonicalJson({ x: Buffer.from("a") } as unknown as CanonicalValue), /Buffer at \$\.x/);
  assert.throws(() => canonicalJson({ d: new Date(0) } as unknown as CanonicalValue), /Date/);
  assert.throws(() => canonicalJson({ m: new Map() } as unknown as CanonicalValue), /Map/);
  assert.throws(() => canonicalJson(10n as unknown as CanonicalValue), /bigint/);
  assert.throws(() => canonicalJson("\uD800x"), /lone surrogate/);
  assert.throws(() => canonicalJson({ ["\uDC00"]: 1 }), /lone surrogate/);
  assert.equal(canonicalJson(Object.assign(Object.create(null), { a: 1 })), '{"a":1}');
});

test("the hash is SHA-256 of the UTF-8 bytes of the canonical text", () => {
  const v = { name: "plug", deps: ["mime", "plug_crypto"], n: 3 };
  const text = '{"deps":["mime","plug_crypto"],"n":3,"name":"plug"}';
  assert.equal(canonicalJson(v), text);
  assert.equal(canonicalSha256(v), createHash("sha256").update(text, "utf8").digest("hex"));
});
