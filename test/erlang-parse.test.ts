import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseTerm, parseTerms } from "../src/erlang/parse.ts";
import { termToBinary } from "../src/erlang/etf.ts";
import { compareTerms } from "../src/erlang/order.ts";
import { prettyTerm } from "../src/erlang/pretty.ts";
import { writeTerm } from "../src/erlang/write.ts";
import { BeamixError } from "../src/errors.ts";
import { atom, bin, float, int, list, map, str, tuple, type Term } from "../src/erlang/term.ts";
import { genTerm, rng, runErlang } from "./support/erlang-gen.ts";

const same = (a: Term, b: Term, msg?: string): void =>
  assert.equal(compareTerms(a, b, { exact: true }), 0, msg ?? `${writeTerm(a)} =/= ${writeTerm(b)}`);

test("reads a metadata.config vector", () => {
  const file = new URL("./vectors/hex/tarballs/decoded/vec_core-0.3.0.metadata.config", import.meta.url).pathname;
  const terms = parseTerms(readFileSync(file, "utf8"), file);
  assert.equal(terms.length, 10);
  same(terms[0], tuple([bin("app"), bin("vec_core")]));
  const reqs = terms[8];
  assert.equal(reqs.type, "tuple");
  same((reqs as Extract<Term, { type: "tuple" }>).items[1], list([
    list([
      tuple([bin("app"), bin("vec_erl")]), tuple([bin("name"), bin("vec_erl")]), tuple([bin("optional"), atom("false")]),
      tuple([bin("repository"), bin("vectors")]), tuple([bin("requirement"), bin("~> 1.0")]),
    ]),
    list([
      tuple([bin("app"), bin("vec_opt")]), tuple([bin("name"), bin("vec_opt")]), tuple([bin("optional"), atom("true")]),
      tuple([bin("repository"), bin("vectors")]), tuple([bin("requirement"), bin("~> 0.1")]),
    ]),
  ]));
});

test("numbers", () => {
  same(parseTerm("42"), int(42));
  same(parseTerm("-42"), int(-42));
  same(parseTerm("- 42"), int(-42));
  same(parseTerm("+7"), int(7));
  same(parseTerm("16#ff"), int(255));
  same(parseTerm("2#1010"), int(10));
  same(parseTerm("36#Zz"), int(36 * 35 + 35));
  same(parseTerm("1_000_000"), int(1000000));
  same(parseTerm("16#ff_ff"), int(65535));
  same(parseTerm("123456789012345678901234567890"), int(123456789012345678901234567890n));
  same(parseTerm("$a"), int(97));
  same(parseTerm("$\\n"), int(10));
  same(parseTerm("$ "), int(32));
  same(parseTerm("-$a"), int(-97));
  same(parseTerm("$\\x{1F600}"), int(0x1f600));
  same(parseTerm("1.5"), float(1.5));
  same(parseTerm("-1.5e-3"), float(-0.0015));
  same(parseTerm("2.0E10"), float(2e10));
  same(parseTerm("1_0.2_5"), float(10.25));
  // `1.` before whitespace is the integer 1 followed by the end dot.
  same(parseTerms("1.\n2.")[1], int(2));
});

test("atoms and strings with escapes", () => {
  same(parseTerm("ok"), atom("ok"));
  same(parseTerm("nonode@nohost"), atom("nonode@nohost"));
  same(parseTerm("été"), atom("été"));
  same(parseTerm("'Hello World'"), atom("Hello World"));
  same(parseTerm("'it\\'s'"), atom("it's"));
  same(parseTerm("'\\x{65E5}'"), atom("日"));
  same(parseTerm(`"\\n\\t\\"\\\\\\x41\\x{263A}\\101\\7\\^A\\s\\d\\e\\q"`), str('\n\t"\\A\u263aA\x07\x01 \x7f\x1bq'));
  same(parseTerm(`"a" "b"  % comment\n "c"`), str("abc"));
  same(parseTerm('""'), list([]));
  same(parseTerm("'日本'"), atom("日本"));
});

test("binaries follow Erlang's segment rules", () => {
  same(parseTerm('<<"abc">>'), bin("abc"));
  same(parseTerm("<<>>"), bin(""));
  // Without a type each character is truncated to a byte, as Erlang does.
  same(parseTerm('<<"é">>'), bin(Buffer.from([0xe9])));
  same(parseTerm('<<"€">>'), bin(Buffer.from([0xac])));
  same(parseTerm('<<"é€"/utf8>>'), bin("é€"));
  same(parseTerm('<<"a" "b"/utf8>>'), bin("ab"));
  same(parseTerm("<<1,2,255>>"), bin(Buffer.from([1, 2, 255])));
  same(parseTerm("<<256, -1>>"), bin(Buffer.from([0, 255])));
  same(parseTerm("<<1:16, 2:16/little, 3:32/big-unsigned>>"), bin(Buffer.from([0, 1, 2, 0, 0, 0, 0, 3])));
  same(parseTerm("<<1.5/float>>"), bin(Buffer.from([63, 248, 0, 0, 0, 0, 0, 0])));
  same(parseTerm("<<1:4, 2:4>>"), bin(Buffer.from([0x12])));
  same(parseTerm('<<"ab"/utf16>>'), bin(Buffer.from([0, 97, 0, 98])));
  same(parseTerm("<<$a, $\\n>>"), bin("a\n"));
  same(parseTerm('<<"x"/utf32-little>>'), bin(Buffer.from([120, 0, 0, 0])));
});

test("lists, tuples and maps", () => {
  same(parseTerm("[]"), list([]));
  same(parseTerm("[a, b]"), list([atom("a"), atom("b")]));
  same(parseTerm("[a | b]"), { type: "list", items: [atom("a")], tail: atom("b") });
  same(parseTerm("[a | [b]]"), list([atom("a"), atom("b")]));
  same(parseTerm('[1 | "ab"]'), list([int(1), int(97), int(98)]));
  same(parseTerm("{}"), tuple([]));
  same(parseTerm("{a, {b, [c]}}"), tuple([atom("a"), tuple([atom("b"), list([atom("c")])])]));
  same(parseTerm("#{}"), map([]));
  same(parseTerm('#{a => 1, <<"k">> => [x]}'), map([[atom("a"), int(1)], [bin("k"), list([atom("x")])]]));
  // A repeated key keeps its last value.
  const m = parseTerm("#{a => 1, b => 2, a => 3}");
  same(m, map([[atom("a"), int(3)], [atom("b"), int(2)]]));
  assert.equal((m as Extract<Term, { type: "map" }>).entries.length, 2);
  // 1 and 1.0 are different keys.
  assert.equal((parseTerm("#{1 => a, 1.0 => b}") as Extract<Term, { type: "map" }>).entries.length, 2);
});

test("a consult file: comments, whitespace, several terms", () => {
  const terms = parseTerms("%% header\n{a, 1}. % trailing\n\n  [x,\n y].\n%% end\n", "app.config");
  assert.equal(terms.length, 2);
  same(terms[1], list([atom("x"), atom("y")]));
  assert.deepEqual(parseTerms(""), []);
  assert.deepEqual(parseTerms("% only a comment\n"), []);
});

test("errors name the file, line and column and what was expected", () => {
  const err = (text: string, re: RegExp, file?: string) =>
    assert.throws(
      () => parseTerms(text, file),
      (e: unknown) => e instanceof BeamixError && re.test(e.message),
      `${JSON.stringify(text)} should fail with ${re}`,
    );
  err("{a, b}", /^<input>:1:7: expected '\.' ending the term, found end of input$/);
  err("{a, b}.\n{c d}.", /^meta\.config:2:4: expected ',' or '}', found atom d$/, "meta.config");
  err("[1, 2", /1:6: expected ',', '\|' or '\]'/);
  err('"abc', /1:1: unterminated string/);
  err("{X}.", /1:2: expected a term, found variable X/);
  err("#{a => }.", /1:8: expected a term, found '\}'/);
  err("#{a, b}.", /1:4: expected '=>'/);
  err("<<a>>.", /1:3: expected a number, character or string in a binary segment/);
  err("<<1:4>>.", /1:1: binary of 4 bits/);
  err("{a, end}.", /1:5: expected a term, found reserved word end/);
  err("'\\x{D800}'.", /not a Unicode character/);
  err("1 ! 2.", /unexpected character '!'/);
  err("- a.", /expected a number after the sign/);
  assert.throws(() => parseTerm("a b"), /1:3: expected '\.' ending the term, found atom b/);
});

test("reads back everything the printer writes", () => {
  const r = rng(3);
  for (let i = 0; i < 500; i++) {
    const t = genTerm(r);
    const text = prettyTerm(t) + ".\n";
    // ETF bytes are the canonical form: strings and lists of bytes encode alike.
    assert.deepEqual(termToBinary(parseTerms(text)[0]), termToBinary(t), text);
    assert.deepEqual(termToBinary(parseTerm(writeTerm(t))), termToBinary(t));
  }
});

// Literal forms written by hand, read by file:consult and by us; compared as term_to_binary.
const LITERALS = `%% coding: utf-8
42. -7. - 7. +7. 16#fF. 2#1010. 36#zz. 1_000. 16#a_b. $a. $\\s. $ . $\\x{1F600}. -$a. $\\^z. $\\177. $\\1.
1.5. -0.25. 1.0e10. 1.0E-3. 2_0.5e1_0. 123456789012345678901234567890. -123456789012345678901234567890.
ok. 'Ok'. 'a b'. 'it\\'s'. 'end'. été. 'x\\x{263A}'. '\\n'. ''. nonode@nohost. a@b_C9.
"". "abc". "a" "b" "c". "\\b\\d\\e\\f\\n\\r\\s\\t\\v\\\\\\"\\'\\q\\^a\\^Z\\0\\12\\123\\1234\\x7e\\x{10FFFF}". "été". "日本".
<<>>. <<"abc">>. <<"é">>. <<"€">>. <<"été"/utf8>>. <<"日本"/utf8>>. <<1,2,255,256,-1>>. <<$a, "bc", 100>>.
<<1:16, 2:16/little, -1:24, 3:8/signed>>. <<1.5/float, 2.0:32/float, 7:64/little-unsigned>>. <<"ab"/utf16, "c"/utf32-little>>.
<<1:4, 15:4>>. <<"a" "b">>.
[]. [a]. [a, b | c]. [a | [b, c]]. [1 | "ab"]. [a | <<"t">>]. {}. {a}. {a, {b, [c | d]}}.
#{}. #{a => 1}. #{b => 2, a => 1, a => 3}. #{1 => a, 1.0 => b, <<"k">> => #{[] => {}}}.
%% comment at the end
`;

test("agrees with file:consult on hand-written literals", () => {
  const script = `#!/usr/bin/env escript
main([_, Out]) ->
  {ok, Terms} = file:consult(filename:join(filename:dirname(Out), "literals.txt")),
  ok = file:write_file(Out, [[base64:encode(term_to_binary(T)), "\\n"] || T <- Terms]).
`;
  const ours = parseTerms(LITERALS, "literals.txt");
  const lines = runErlang(script, [], {}, { "literals.txt": LITERALS });
  assert.equal(ours.length, lines.length);
  ours.forEach((t, i) => {
    assert.equal(termToBinary(t).toString("base64"), lines[i], `literal #${i}: ${writeTerm(t)}`);
  });
});
