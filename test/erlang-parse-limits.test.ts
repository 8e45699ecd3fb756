// The term reader against hostile text (issue 12): every metadata.config comes from whoever
// published the package. Inputs that used to take minutes, gigabytes or the whole stack are
// refused by a stated limit, with one line naming the file, the place and the limit, or read
// in time linear in their length. Nothing here measures time: the limits are in the code, and a
// regression shows up as a test that no longer finishes.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { BINARY_BYTES_BASE, BINARY_BYTES_PER_CHAR, MAX_DEPTH, MAX_DIGITS, parseTerm, parseTerms } from "../src/erlang/parse.ts";
import { BeamixError } from "../src/errors.ts";
import { formatMetadataConfig, parseMetadataConfig } from "../src/hex/metadata-terms.ts";
import type { HexMetadata } from "../src/hex/metadata.ts";
import { atom, bin, int, list, map, tuple, type Term } from "../src/erlang/term.ts";

// A BeamixError of one line, naming the file and a line:column, that matches `re`.
function refused(text: string, re: RegExp, file = "metadata.config"): void {
  assert.throws(
    () => parseTerms(text, file),
    (e: unknown) => {
      assert.ok(e instanceof BeamixError, `not a BeamixError: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      assert.match(e.message, new RegExp(`^${file.replace(/\./g, "\\.")}:\\d+:\\d+: `));
      assert.doesNotMatch(e.message, /\n/);
      assert.match(e.message, re);
      return true;
    },
  );
}

test("a 12-byte bitstring of 50 million bits is refused before anything is built", () => {
  refused("<<0:50000000>>.", /^metadata\.config:1:3: binary segment of 50000000 bits goes over the limit of \d+ bytes of binaries for this file/);
  refused("<<-1:50000000/little>>.", /binary segment of 50000000 bits/);
  refused("<<1:8/unit:256, 0:99999999999999999999999999>>.", /binary segment of 99999999999999999999999999 bits/);
  // Many segments, each small, add up to the same limit.
  const many = `<<${Array.from({ length: 200 }, () => "0:65536").join(",")}>>.`;
  refused(many, /goes over the limit/);
  // A binary within the limit is built exactly.
  const limitBits = 8 * (BINARY_BYTES_BASE + BINARY_BYTES_PER_CHAR * "<<0:524288>>.".length);
  assert.ok(524288 <= limitBits);
  assert.deepEqual(parseTerm("<<0:524288>>."), { type: "binary", value: Buffer.alloc(65536) });
  assert.deepEqual(parseTerm("<<-1:72/little, 5:3, 1:5>>."), { type: "binary", value: Buffer.from([255, 255, 255, 255, 255, 255, 255, 255, 255, 0xa1]) });
});

test("units are 1 to 256, as Erlang has them", () => {
  refused("<<1:8/unit:0>>.", /unit 0 is not from 1 to 256/);
  refused("<<1:8/unit:257>>.", /unit 257 is not from 1 to 256/);
  assert.deepEqual(parseTerm("<<1:1/unit:16>>."), { type: "binary", value: Buffer.from([0, 1]) });
});

test("deep nesting is a BeamixError naming the limit, not a stack overflow", () => {
  for (const [open, close] of [["[", "]"], ["{", "}"], ["#{a => ", "}"], ["#{", " => 1}"]]) {
    refused(open.repeat(100_000) + "x" + close.repeat(100_000) + ".", new RegExp(`terms nested more than ${MAX_DEPTH} levels deep`));
  }
  refused("<<".repeat(100_000), /nested more than/);
  // Exactly at the limit is fine; one more is not.
  assert.equal(parseTerm("{".repeat(MAX_DEPTH) + "}".repeat(MAX_DEPTH)).type, "tuple");
  refused("{".repeat(MAX_DEPTH + 1) + "}".repeat(MAX_DEPTH + 1) + ".", /1:1001: terms nested more than 1000 levels deep/);
  // Also through the metadata reader.
  assert.throws(
    () => parseMetadataConfig(`{<<"name">>, ${"[".repeat(50_000)}.`, "pkg: metadata.config"),
    (e: unknown) => e instanceof BeamixError && /^pkg: metadata\.config:1:\d+: terms nested more than/.test(e.message),
  );
});

test("a chain of list tails is one flat list, however long", () => {
  const n = 100_000;
  const t = parseTerm("[" + "a|[".repeat(n) + "b]" + "]".repeat(n) + ".");
  assert.equal(t.type, "list");
  const items = (t as Extract<Term, { type: "list" }>).items;
  assert.equal(items.length, n + 1);
  assert.deepEqual(items[n], atom("b"));
  assert.deepEqual(parseTerm("[a|[b|[c|d]]]"), { type: "list", items: [atom("a"), atom("b"), atom("c")], tail: atom("d") });
  assert.deepEqual(parseTerm("[a|[b|[]]]"), list([atom("a"), atom("b")]));
  assert.deepEqual(parseTerm('[a|[b|"cd"]]'), list([atom("a"), atom("b"), int(99), int(100)]));
  refused("[a|[b|[c]].", /expected '\]', found '\.'/);
  refused("[a|[b c]].", /expected ',', '\|' or '\]', found atom c/);
});

test("a 40,000-key map is read, repeated keys keeping their last value in the last place", () => {
  const n = 40_000;
  const keys = Array.from({ length: n }, (_, i) => (i % 2 ? `k${i}` : `<<"k${i}">>`));
  // Every key twice: the second value wins and takes the second position.
  const text = `#{${keys.map((k, i) => `${k} => ${i}`).join(",")},${keys.map((k, i) => `${k} => [${i}]`).join(",")}}.`;
  const m = parseTerm(text) as Extract<Term, { type: "map" }>;
  assert.equal(m.type, "map");
  assert.equal(m.entries.length, n);
  assert.deepEqual(m.entries[0], [bin("k0"), list([int(0)])]);
  assert.deepEqual(m.entries[n - 1], [atom(`k${n - 1}`), list([int(n - 1)])]);
});

test("repeated keys are found by exact equality, as Erlang's =:=", () => {
  const keysOf = (text: string) => (parseTerm(text) as Extract<Term, { type: "map" }>).entries.map(([k, v]) => [k.type, v]);
  // "ab", [97,98] and [97|"b"] are one key; 1 and 1.0 are two; 0.0 and -0.0 one (OTP 25).
  assert.equal(keysOf('#{"ab" => 1, [97,98] => 2, [97|"b"] => 3}').length, 1);
  assert.equal(keysOf("#{1 => a, 1.0 => b}").length, 2);
  assert.equal(keysOf("#{0.0 => a, -0.0 => b}").length, 1);
  // Map keys are equal whatever order their own keys were written in.
  assert.deepEqual(keysOf("#{#{a => 1, b => 2} => x, #{b => 2, a => 1} => y}"), [["map", atom("y")]]);
  assert.equal(keysOf("#{#{a => 1} => x, #{a => 1.0} => y}").length, 2);
  // Key text cannot be forged by atoms or binaries that contain separators.
  assert.equal(keysOf("#{{'1:a', b} => x, {'1:a,b'} => y, {<<\"a\">>} => z, {a} => w}").length, 4);
  assert.equal(keysOf("#{[a | b] => 1, [a, b] => 2, {a, b} => 3, [[a, b]] => 4, [[a], b] => 5}").length, 5);
});

test("numbers: digits are limited, and any base converts to the same value as digit by digit", () => {
  refused(`36#${"z".repeat(300_000)}.`, new RegExp(`number of more than ${MAX_DIGITS} digits`));
  refused(`${"9".repeat(MAX_DIGITS + 1)}.`, /number of more than/);
  refused(`1.${"5".repeat(MAX_DIGITS + 1)}.`, /number of more than/);
  assert.deepEqual(parseTerm(`36#${"z".repeat(MAX_DIGITS)}`), int(36n ** BigInt(MAX_DIGITS) - 1n));
  const DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz";
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 36 }), fc.array(fc.nat(35), { minLength: 1, maxLength: 300 }), (base, ds) => {
      const digits = ds.map((d) => DIGITS[d % base]).join("");
      const expected = [...digits].reduce((v, d) => v * BigInt(base) + BigInt(parseInt(d, 36)), 0n);
      assert.deepEqual(parseTerm(`${base}#${digits}`), int(expected));
      assert.deepEqual(parseTerm(`-${base}#${digits.toUpperCase()}`), int(-expected));
    }),
    { seed: 12, numRuns: 500 },
  );
});

test("error messages stay one short line, whatever the input holds", () => {
  refused("{a 'new\nline'}.", /found atom "new\\nline"$/);
  refused(`{1 ${"A".repeat(5000)}}.`, /found variable A{40}\.\.\.$/);
  refused(`{1 ${"7".repeat(5000)}}.`, /found int 7{40}\.\.\.$/);
  refused(`"\\x{${"f".repeat(5000)}}".`, /\\x\{f{40}\.\.\.\} is not a Unicode character$/);
  refused("a \x7f.", /unexpected character '\\x\{7F\}'$/);
});

// A metadata.config of the shape Hex writes, grown to Hex's 1 MiB limit.
function bigMetadata(): string {
  const files: string[] = [];
  for (let i = 0, size = 0; size < 800_000; i++) {
    const f = `priv/static/assets/vendor/module_${i}/component_${i % 97}.${["ex", "js", "css", "erl"][i % 4]}`;
    files.push(f);
    size += f.length;
  }
  const m: HexMetadata = {
    name: "big",
    version: "1.0.0",
    app: "big",
    description: "A package. ".repeat(5000),
    elixir: "~> 1.14",
    files,
    licenses: ["Apache-2.0", "MIT"],
    buildTools: ["mix"],
    requirements: Array.from({ length: 200 }, (_, i) => ({ name: `dep_${i}`, app: `dep_${i}`, requirement: `~> ${i % 5}.${i % 7}`, optional: i % 3 === 0, repository: "hexpm" })),
    links: Array.from({ length: 50 }, (_, i): [string, string] => [`Link ${i}`, `https://example.invalid/${i}`]),
    other: [["extra", map(Array.from({ length: 500 }, (_, i): [Term, Term] => [bin(`key_${i}`), list([int(i), atom("ok"), tuple([bin("v"), int(-i)])])]))]],
  };
  return formatMetadataConfig(m);
}

test("a 1 MiB metadata.config of realistic shape reads back what was written", () => {
  const text = bigMetadata();
  assert.ok(Buffer.byteLength(text) > 1_000_000);
  const m = parseMetadataConfig(text, "big.config");
  assert.equal(m.files.length > 10_000, true);
  assert.equal(m.requirements.length, 200);
  assert.equal(formatMetadataConfig(m), text);
});

test("long lists and charlists in metadata do not overflow the stack", () => {
  const n = 200_000; // push(...items) and fromCodePoint(...codes) overflowed the stack well before
  const files = parseMetadataConfig(`{<<"name">>,<<"x">>}.\n{<<"version">>,<<"1.0.0">>}.\n{<<"files">>,[${Array(n).fill("<<>>").join(",")}]}.\n`);
  assert.equal(files.files.length, n);
  const described = parseMetadataConfig(`{<<"name">>,<<"x">>}.\n{<<"version">>,<<"1.0.0">>}.\n{<<"description">>,[$a|"${"b".repeat(n)}"]}.\n`);
  assert.equal(described.description, "a" + "b".repeat(n));
});
